package v1alpha1_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func l2Advertisement(pools, interfaces []string) *v1alpha1.L2Advertisement {
	return &v1alpha1.L2Advertisement{
		TypeMeta:   metaType("L2Advertisement"),
		ObjectMeta: metav1.ObjectMeta{Name: "l2"},
		Spec:       v1alpha1.L2AdvertisementSpec{IPPools: pools, Interfaces: interfaces},
	}
}

func badInterface(i, name, why string) string {
	return "spec.interfaces[" + i + `]: Invalid value: "` + name + `": not a Linux interface name: ` + why +
		"; each entry of spec.interfaces must be 1 to 15 printable ASCII characters without /, : or whitespace, such as eth0 or bond0.100"
}

const badPoolName = `: each entry of spec.ipPools must be the name of an IPPool: a DNS subdomain of lower case letters, digits, - and . (such as blue or pool-1.example)`

// l2AdvertisementCases are shared with the integration test; they are within the OpenAPI limits
// (the integration test checks those), so only the CEL rules decide.
var l2AdvertisementCases = []struct {
	name             string
	pools, ifaces    []string
	want             []string
	goRefusesIfaceAt int // index of the interface ValidateInterfaceName must refuse, or -1
}{
	{name: "empty: every pool, every node, the subnet's interface", goRefusesIfaceAt: -1},
	{name: "pools and interfaces", pools: []string{"blue", "pool-1.example"},
		ifaces: []string{"eth0", "bond0.100", "enp3s0f1", "br-lan_2", "vlan@x", "a", "abcdefghijklmno"}, goRefusesIfaceAt: -1},
	{name: "interface with /", ifaces: []string{"eth0", "eth/0"}, goRefusesIfaceAt: 1,
		want: []string{badInterface("1", "eth/0", "it contains /")}},
	{name: "interface with :", ifaces: []string{"eth0:1"}, goRefusesIfaceAt: 0,
		want: []string{badInterface("0", "eth0:1", "it contains : (eth0:1 is an address label; name the interface, eth0)")}},
	{name: "interface with a space", ifaces: []string{"eth 0"}, goRefusesIfaceAt: 0,
		want: []string{badInterface("0", "eth 0", "it contains whitespace, a control character or non-ASCII")}},
	{name: "interface with a tab", ifaces: []string{"eth\t0"}, goRefusesIfaceAt: 0,
		want: []string{badInterface("0", `eth\t0`, "it contains whitespace, a control character or non-ASCII")}},
	{name: "interface not ASCII", ifaces: []string{"ethé"}, goRefusesIfaceAt: 0,
		want: []string{badInterface("0", "ethé", "it contains whitespace, a control character or non-ASCII")}},
	{name: "interface .", ifaces: []string{"."}, goRefusesIfaceAt: 0,
		want: []string{badInterface("0", ".", ". and .. are not allowed")}},
	{name: "interface ..", ifaces: []string{"eth0", ".."}, goRefusesIfaceAt: 1,
		want: []string{badInterface("1", "..", ". and .. are not allowed")}},
	{name: "pool name not a subdomain", pools: []string{"blue", "Blue_Pool"}, goRefusesIfaceAt: -1,
		want: []string{`spec.ipPools[1]: Invalid value: "Blue_Pool"` + badPoolName}},
}

func TestL2AdvertisementCEL(t *testing.T) {
	v := newCELValidator(t, "L2Advertisement")
	for _, tt := range l2AdvertisementCases {
		t.Run(tt.name, func(t *testing.T) {
			got := v.validate(t, l2Advertisement(tt.pools, tt.ifaces), nil)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("CEL errors (-want +got):\n%s", d)
			}
		})
	}
}

// TestValidateInterfaceName checks that the Go check refuses what the CRD refuses, on the table
// and on random short strings of ASCII and a few other characters.
func TestValidateInterfaceName(t *testing.T) {
	for _, tt := range l2AdvertisementCases {
		for i, name := range tt.ifaces {
			err := v1alpha1.ValidateInterfaceName(name)
			if (err != nil) != (i == tt.goRefusesIfaceAt) {
				t.Errorf("%s: ValidateInterfaceName(%q) = %v", tt.name, name, err)
			}
		}
	}
	for _, name := range []string{"", strings.Repeat("a", 16)} {
		if err := v1alpha1.ValidateInterfaceName(name); err == nil {
			t.Errorf("ValidateInterfaceName(%q) = nil, want an error", name)
		}
	}
	if got, want := v1alpha1.ValidateInterfaceName("eth/0").Error(),
		`"eth/0" is not a Linux interface name: it contains /; want 1 to 15 printable ASCII characters without /, : or whitespace, such as eth0 or bond0.100`; got != want {
		t.Errorf("error\n%s\nwant\n%s", got, want)
	}

	v := newCELValidator(t, "L2Advertisement")
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []rune("ab0.-_/: \t\x7f~!é")
	for range 500 {
		r := make([]rune, 1+rng.IntN(4))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		name := string(r)
		if len(name) > v1alpha1.MaxInterfaceNameLength {
			continue // the schema's maxLength, not CEL, refuses these
		}
		celOK := len(v.validate(t, l2Advertisement(nil, []string{name}), nil)) == 0
		goOK := v1alpha1.ValidateInterfaceName(name) == nil
		if celOK != goOK {
			t.Errorf("%q: CRD accepts %v, ValidateInterfaceName accepts %v", name, celOK, goOK)
		}
	}
}

func announced(announcers ...v1alpha1.Announcer) *v1alpha1.IPAllocation {
	a := allocation("198.51.100.7", "198.51.100.7", "a")
	a.Status.Announcers = announcers
	return a
}

var since = metav1.NewTime(time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC))

// announcerCases are shared with the integration test.
var announcerCases = []struct {
	name string
	obj  *v1alpha1.IPAllocation
	want []string
}{
	{name: "L2 with interface", obj: announced(v1alpha1.Announcer{Node: "n1", Mode: v1alpha1.AnnouncementModeL2, Interface: "eth0", Since: since})},
	{name: "L2 and BGP from one node", obj: announced(
		v1alpha1.Announcer{Node: "n1", Mode: v1alpha1.AnnouncementModeL2, Interface: "eth0,eth1", Since: since},
		v1alpha1.Announcer{Node: "n1", Mode: v1alpha1.AnnouncementModeBGP, Since: since})},
	{name: "BGP with interface", obj: announced(
		v1alpha1.Announcer{Node: "n1", Mode: v1alpha1.AnnouncementModeL2, Since: since},
		v1alpha1.Announcer{Node: "n2", Mode: v1alpha1.AnnouncementModeBGP, Interface: "eth0", Since: since}),
		want: []string{`status.announcers[1].interface: Invalid value: interface is set only for mode L2: a BGP announcement is not bound to an interface`}},
}

func TestAnnouncerCEL(t *testing.T) {
	v := newCELValidator(t, "IPAllocation")
	for _, tt := range announcerCases {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, v.validate(t, tt.obj, nil)); d != "" {
				t.Errorf("CEL errors (-want +got):\n%s", d)
			}
		})
	}
}
