package charttest

import (
	"strings"
	"testing"
)

// TestSchemaRejects: values.schema.json refuses bad values before anything renders, with a message
// that names the field.
func TestSchemaRejects(t *testing.T) {
	tests := []struct {
		name, values string
		field        string // a substring the error must contain
	}{
		{"unknown provider", `provider: gcp`, "provider"},
		{"provider not a string", `provider: 1`, "provider"},
		{"liveness port zero", `speaker: {livenessPort: 0}`, "livenessPort"},
		{"liveness port too big", `speaker: {livenessPort: 70000}`, "livenessPort"},
		{"liveness port as text", `speaker: {livenessPort: "7473"}`, "livenessPort"},
		{"metrics port negative", `speaker: {metricsPort: -1}`, "metricsPort"},
		{"secure port too big", `controller: {securePort: 65536}`, "securePort"},
		{"no replicas", `controller: {replicas: 0}`, "replicas"},
		{"l2 flag not a boolean", `announce: {l2: {enabled: "yes"}}`, "enabled"},
		{"misspelt key", `provdier: aws`, "provdier"},
		{"misspelt nested key", `speaker: {livnessPort: 7473}`, "livnessPort"},
		{"pool without spec", `ipPools: [{name: lan}]`, "spec"},
		{"pool with a bad name", `ipPools: [{name: Bad_Name, spec: {addresses: ["192.0.2.0/24"]}}]`, "name"},
		{"BGP peers without BGP", `bgpPeers: [{name: a, spec: {address: 192.0.2.1}}]`, "enabled"},
		{"BGP without an ASN", `announce: {bgp: {enabled: true}}`, "asn"},
		{"ASN too big", `announce: {bgp: {enabled: true, asn: 4294967296}}`, "asn"},
		{"empty image repository", `controller: {image: {repository: ""}}`, "repository"},
		{"bad pull policy", `speaker: {image: {repository: frontdesk/frontdesk-speaker, pullPolicy: Sometimes}}`, "pullPolicy"},
		{"extra arg without dashes", `controller: {extraArgs: ["v=4"]}`, "extraArgs"},
		{"bad load-balancer class", `loadBalancerClass: "not a class"`, "loadBalancerClass"},
		{"drain not a duration", `speaker: {drain: "5 seconds"}`, "drain"},
		{"memory limit removed", `controller: {resources: {limits: {memory: null}}}`, "memory"},
		{"bad region", `aws: {region: "Europe"}`, "region"},
	}
	ch := mustChart(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderValues(ch, parseValues(t, tt.values), nil)
			if err == nil {
				t.Fatalf("values %s were accepted", tt.values)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q: want a schema error naming %q", err, tt.field)
			}
		})
	}
}

// TestSchemaAccepts: values a user may reasonably write, beyond the value sets.
func TestSchemaAccepts(t *testing.T) {
	tests := []struct{ name, values string }{
		{"ports at the ends of the range", `speaker: {livenessPort: 1, metricsPort: 65535}`},
		{"percentage PDB", `controller: {podDisruptionBudget: {enabled: true, minAvailable: "50%"}}`},
		{"unprefixed class", `loadBalancerClass: internal`},
		{"only the service controller", `controller: {controllers: ["*", "-cloud-node-lifecycle"]}`},
		{"port as a number", `speaker: {kubernetesServicePort: 6443}`},
		{"the largest ASN", `announce: {bgp: {enabled: true, asn: 4294967295}}`},
	}
	ch := mustChart(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := renderValues(ch, parseValues(t, tt.values), nil); err != nil {
				t.Errorf("values %s: %v", tt.values, err)
			}
		})
	}
}
