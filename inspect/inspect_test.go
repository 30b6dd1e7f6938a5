package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	fdfake "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/fake"
)

func fakes(t *testing.T) (*kubefake.Clientset, *fdfake.Clientset) {
	t.Helper()
	var kubeObjs, fdObjs []runtime.Object
	for _, s := range fixtureServices() {
		kubeObjs = append(kubeObjs, s)
	}
	for _, a := range fixtureAllocations() {
		fdObjs = append(fdObjs, a)
	}
	for _, p := range fixturePools() {
		fdObjs = append(fdObjs, p)
	}
	return kubefake.NewClientset(kubeObjs...), fdfake.NewSimpleClientset(fdObjs...)
}

// status is what `kubectl frontdesk status` prints over the fixtures: namespace "" is -A.
func status(t *testing.T, namespace, format string, names ...string) string {
	t.Helper()
	kube, fd := fakes(t)
	svcs, err := Status(t.Context(), kube, fd.FrontdeskV1alpha1(), namespace, names)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintStatus(&out, format, svcs, namespace == ""); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestStatusTable(t *testing.T) {
	out := status(t, "", OutputTable)
	want := `NAMESPACE   NAME      ADDRESS        POOL   ANNOUNCED BY          READY   REASON
default     api       192.0.2.11     lan    none: NotAdvertised   False   NotAdvertised
default     pending   <pending>      -      -                     False   NoPool
default     web       192.0.2.10     lan    node-a (L2)           True    Announced
                      2001:db8::10   lan6   2 nodes (BGP)
shop        web       192.0.2.10     lan    node-a (L2)           True    Announced
`
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// One namespace, some Services by name, the wide columns; a name that is no LoadBalancer
// Service is an error that names it.
func TestStatusNamed(t *testing.T) {
	out := status(t, "default", OutputWide, "web")
	for _, want := range []string{"POLICY", "Local", "announced over BGP by 2 nodes: node-a, node-b"} {
		if !strings.Contains(out, want) {
			t.Errorf("wide output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "shop") || strings.Contains(out, "api") {
		t.Errorf("other Services printed:\n%s", out)
	}
	kube, fd := fakes(t)
	_, err := Status(t.Context(), kube, fd.FrontdeskV1alpha1(), "default", []string{"web", "internal", "nope"})
	if err == nil || !strings.Contains(err.Error(), "internal, nope") || !strings.Contains(err.Error(), "namespace default") {
		t.Errorf("got %v, want an error naming internal and nope in namespace default", err)
	}
}

// -o json holds what the table shows and more: the announcers and the speakers' condition.
func TestStatusJSON(t *testing.T) {
	out := status(t, "default", OutputJSON, "web")
	var got struct{ Services []ServiceStatus }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Services) != 1 || len(got.Services[0].Addresses) != 2 || !got.Services[0].Addresses[0].Shared ||
		len(got.Services[0].Addresses[1].Announcers) != 2 || got.Services[0].Ready != "True" {
		t.Errorf("json: %s", out)
	}
}

func TestPoolsTable(t *testing.T) {
	_, fd := fakes(t)
	pools, err := Pools(t.Context(), fd.FrontdeskV1alpha1())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintPools(&out, OutputWide, pools); err != nil {
		t.Fatal(err)
	}
	want := `NAME   FAMILY   ASSIGNED                      SERVICES   STATE       HELD BY
lan    IPv4     2/16 (12%)                    3          ok          default/api,default/web,shop/web
lan6   IPv6     1/18446744073709551616 (0%)   1          ok          default/web
tiny   IPv4     1/1 (100%)                    0          Exhausted
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCheckOutput(t *testing.T) {
	for _, o := range []string{"", "wide", "json", "yaml"} {
		if err := CheckOutput(o); err != nil {
			t.Errorf("%q: %v", o, err)
		}
	}
	if err := CheckOutput("jsonpath={.x}"); err == nil {
		t.Error("jsonpath accepted")
	}
}
