// Package inspect answers an operator's questions about frontdesk from the API server alone: who
// serves each LoadBalancer Service and how ready it is (Status), how full each IPPool is and for
// whom (Pools), and which troubleshooting step fails first for a Service (Why: selector, endpoints,
// class, controller, then the step the Service's condition names). It reads Services, Pods,
// EndpointSlices, IPPools and IPAllocations with Kubernetes' view role (extended by the chart), and
// is what `kubectl frontdesk` (cmd/kubectl-frontdesk) prints. Views are computed whole from one
// list of each kind, then printed as a table or as JSON or YAML.
package inspect
