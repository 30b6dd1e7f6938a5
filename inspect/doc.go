// Package inspect answers an operator's questions about frontdesk from the API server alone: who
// serves each LoadBalancer Service and how ready it is (Status), how full each IPPool is and for
// whom (Pools). It reads Services, IPPools and IPAllocations with the chart's read-only access, and
// is what `kubectl frontdesk` (cmd/kubectl-frontdesk) prints. Views are computed whole from one
// list of each kind, then printed as a table or as JSON or YAML.
package inspect
