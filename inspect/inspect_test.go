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

func TestStatusTable(t *testing.T) {
	kube, fd := fakes(t)
	svcs, err := Status(t.Context(), kube, fd.FrontdeskV1alpha1(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintStatus(&out, OutputTable, svcs, true); err != nil {
		t.Fatal(err)
	}
	want := `NAMESPACE   NAME      ADDRESS        POOL   ANNOUNCED BY          READY   REASON
default     api       192.0.2.11     lan    none: NotAdvertised   False   NotAdvertised
default     pending   <pending>      -      -                     False   NoPool
default     web       192.0.2.10     lan    node-a (L2)           True    Announced
                      2001:db8::10   lan6   2 nodes (BGP)
shop        web       192.0.2.10     lan    node-a (L2)           True    Announced
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// One namespace, some Services by name, the wide columns; a name that is no LoadBalancer
// Service is an error that names it.
func TestStatusNamed(t *testing.T) {
	kube, fd := fakes(t)
	svcs, err := Status(t.Context(), kube, fd.FrontdeskV1alpha1(), "default", []string{"web"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintStatus(&out, OutputWide, svcs, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"POLICY", "Local", "announced over BGP by 2 nodes: node-a, node-b"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("wide output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "shop") || strings.Contains(out.String(), "api") {
		t.Errorf("other Services printed:\n%s", out.String())
	}
	_, err = Status(t.Context(), kube, fd.FrontdeskV1alpha1(), "default", []string{"web", "internal", "nope"})
	if err == nil || !strings.Contains(err.Error(), "internal, nope") || !strings.Contains(err.Error(), "namespace default") {
		t.Errorf("got %v, want an error naming internal and nope in namespace default", err)
	}
}

// -o json holds what the table shows and more: the announcers and the speakers' condition.
func TestStatusJSON(t *testing.T) {
	kube, fd := fakes(t)
	svcs, err := Status(t.Context(), kube, fd.FrontdeskV1alpha1(), "default", []string{"web"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := PrintStatus(&out, OutputJSON, svcs, false); err != nil {
		t.Fatal(err)
	}
	var got struct{ Services []ServiceStatus }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Services) != 1 || len(got.Services[0].Addresses) != 2 || !got.Services[0].Addresses[0].Shared ||
		len(got.Services[0].Addresses[1].Announcers) != 2 || got.Services[0].Ready != "True" {
		t.Errorf("json: %s", out.String())
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
