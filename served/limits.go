package served

import "fmt"

// Limits caps what one Service may ask of every node's proxy. Rules grow as ports × endpoints,
// and a full resync rewrites a serving table in one transaction, so without caps one tenant's
// Service stalls the syncs of every node (issue 17, item 3).
type Limits struct {
	// Ports caps spec.ports: a Service with more is not programmed at all.
	Ports int
	// EndpointsPerPort caps the endpoints of one Service port in one IP family: beyond it, the
	// first ones (ready before not ready, then by address) are programmed and the rest left out.
	EndpointsPerPort int
}

// DefaultLimits are far above what Services in use reach: Kubernetes' scalability thresholds
// (sig-scalability's thresholds.md) put 5,000 backends per Service at the edge of what the
// control plane itself supports, and port lists of more than a hundred entries (no ranges exist)
// are not a pattern kube-proxy users run; each port costs up to three chains on every node.
var DefaultLimits = Limits{Ports: 100, EndpointsPerPort: 5000}

// PortsMessage is the Event text for a Service with ports ports over l.
func (l Limits) PortsMessage(ports int) string {
	return fmt.Sprintf("the Service has %d ports, more than the node proxies' cap of %d (--max-ports-per-service): it is not programmed on any node", ports, l.Ports)
}

// EndpointsMessage is the Event text for a Service port with n endpoints over l.
func (l Limits) EndpointsMessage(port string, n int) string {
	return fmt.Sprintf("port %s has %d endpoints, more than the node proxies' cap of %d (--max-endpoints-per-service-port): only %d of them receive traffic", port, n, l.EndpointsPerPort, l.EndpointsPerPort)
}

// Event reasons of the rules in this file and in claims.go.
const (
	ReasonAddressRefused   = "AddressNotProgrammed"
	ReasonTooManyPorts     = "TooManyPorts"
	ReasonTooManyEndpoints = "TooManyEndpoints"
)
