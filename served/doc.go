// Package served says which Services and which nodes count, for every part of frontdesk that
// must agree on it:
//
//   - the service controller, which passes a provider the nodes a load balancer may send to
//     (Node.LoadBalancerTarget);
//   - the speaker's layer-2 election and its BGP advertiser, which decide the nodes that may
//     attract an address's traffic (Node.Announcer);
//   - the speaker's two planners, which read the same Services (Classes, ByAddress) and the same
//     endpoint conditions (ConditionsOf, Local).
//
// Each mode's policy is one method here, and Announcer is LoadBalancerTarget plus more: every
// node a speaker may elect is one the controller counts. The package is pure (functions of
// Kubernetes objects, no I/O). docs/design/eligibility.md gives the rules and why; where earlier
// copies disagreed, it says what was decided.
package served
