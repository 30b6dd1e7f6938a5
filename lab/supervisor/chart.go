package supervisor

// The lab installs frontdesk as release ChartRelease in ChartNamespace, as docs/chart.md does
// (Options.ChartNamespace names another).
const (
	ChartRelease   = "frontdesk"
	ChartNamespace = "frontdesk-system"
)

// controllers are frontdesk-controller's --controllers in the lab (the chart's value, which its
// RBAC follows).
var controllers = []string{"service", "nodeport-usage", "cloud-node"}

// BGPPoolName is the IPPool announced over BGP; a Service asks for it with the annotation
// frontdesk.dev/ip-pool, since the pool does not auto-assign (the ARP pool stays the default).
const BGPPoolName = "bgp"

// clusterDomain is the kubelets' clusterDomain and CoreDNS's zone.
const clusterDomain = "cluster.local"

// ValuesFile is the lab's values file for the chart, as helm install was given it.
func (o Options) ValuesFile() string { return o.Dir + "/chart-values.yaml" }
