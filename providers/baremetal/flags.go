package baremetal

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"
)

// flagServiceCIDRs is --service-cluster-ip-range, read by the provider the controller manager
// builds (the registry's factory runs after the flags are parsed).
var flagServiceCIDRs []netip.Prefix

// AddFlags registers the provider's flags on the controller manager's flag set.
func AddFlags(fs *pflag.FlagSet) {
	fs.Var(prefixList{&flagServiceCIDRs}, "service-cluster-ip-range",
		"baremetal: the cluster's Service CIDRs (one per family, comma-separated, as given to kube-apiserver), "+
			"which no IPPool may overlap. Used only when the API server serves no networking.k8s.io/v1 ServiceCIDR objects, which are read otherwise.")
}

// prefixList is a pflag.Value of at most one masked CIDR per family.
type prefixList struct{ p *[]netip.Prefix }

func (l prefixList) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, p := range *l.p {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l prefixList) Set(v string) error {
	var out []netip.Prefix
	var seen [2]bool
	for _, f := range strings.Split(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return fmt.Errorf("%q is not a CIDR; want one or two CIDRs, one per family, such as 10.96.0.0/16,fd00:10:96::/108", f)
		}
		if p != p.Masked() {
			return fmt.Errorf("%s has bits set after its prefix length; did you mean %s?", p, p.Masked())
		}
		fam := 0
		if p.Addr().Is6() {
			fam = 1
		}
		if seen[fam] {
			return fmt.Errorf("%q names two CIDRs of one family; want at most one IPv4 and one IPv6 CIDR", v)
		}
		seen[fam] = true
		out = append(out, p)
	}
	*l.p = out
	return nil
}

func (prefixList) Type() string { return "cidrs" }
