// Package charttest tests the frontdesk Helm chart: it renders the chart with the Helm Go SDK for
// several value sets, checks the rendered objects against the project's security policy, and (with
// the integration tag) applies them to a real API server.
//
// It is its own Go module so that Helm's dependencies stay out of the product's go.mod.
package charttest
