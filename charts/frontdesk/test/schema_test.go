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
		{"accept key not a data key", `speaker: {livenessKey: {acceptSecretKey: "a/b"}}`, "acceptSecretKey"},
		{"quorum as text", `speaker: {livenessQuorum: "yes"}`, "livenessQuorum"},
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
		// Without NET_BIND_SERVICE the speakers cannot listen for a passive peer (issue 17).
		{"a passive BGP peer without passivePeers", `{announce: {bgp: {enabled: true, asn: 64513}},
  bgpPeers: [{name: a, spec: {address: 192.0.2.1, peerASN: 64512, localASN: 64513, passive: true}}]}`, "passivePeers"},
		{"empty image repository", `controller: {image: {repository: ""}}`, "repository"},
		{"bad pull policy", `speaker: {image: {repository: frontdesk-lb/frontdesk-speaker, pullPolicy: Sometimes}}`, "pullPolicy"},
		{"digest too short", `controller: {image: {digest: "sha256:0123abcd"}}`, "digest"},
		{"digest without its algorithm", `speaker: {image: {digest: "` + strings.Repeat("a", 64) + `"}}`, "digest"},
		{"digest in capitals", `controller: {image: {digest: "sha256:` + strings.Repeat("A", 64) + `"}}`, "digest"},
		{"digest of another algorithm", `controller: {image: {digest: "sha512:` + strings.Repeat("a", 64) + `"}}`, "digest"},
		{"registry with a scheme", `image: {registry: "https://registry.example"}`, "registry"},
		{"registry with a trailing slash", `image: {registry: "registry.example/"}`, "registry"},
		{"registry not a string", `image: {registry: 5000}`, "registry"},
		{"component registry with a space", `speaker: {image: {registry: "registry example"}}`, "registry"},
		{"repository in capitals", `controller: {image: {repository: Frontdesk/Controller}}`, "repository"},
		{"repository with a tag", `controller: {image: {repository: "frontdesk-lb/frontdesk-controller:v1"}}`, "repository"},
		{"tag with a slash", `speaker: {image: {tag: "v1/2"}}`, "tag"},
		{"repository at the top", `image: {registry: localhost, repository: frontdesk}`, "repository"},
		{"extra arg without dashes", `controller: {extraArgs: ["v=4"]}`, "extraArgs"},
		{"bad load-balancer class", `loadBalancerClass: "not a class"`, "loadBalancerClass"},
		{"drain not a duration", `speaker: {drain: "5 seconds"}`, "drain"},
		{"memory limit removed", `controller: {resources: {limits: {memory: null}}}`, "memory"},
		{"bad region", `aws: {region: "Europe"}`, "region"},
		{"exclusion flag not a boolean", `proxy: {enabled: true, excludeDeadNodes: "no"}`, "excludeDeadNodes"},
		{"boot-ID ConfigMap not a name", `speaker: {bootIDConfigMap: "/var/lib/boot_id"}`, "bootIDConfigMap"},
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
		{"a passive BGP peer with passivePeers", `{announce: {bgp: {enabled: true, asn: 64513, passivePeers: true}},
  bgpPeers: [{name: a, spec: {address: 192.0.2.1, peerASN: 64512, localASN: 64513, passive: true}}]}`},
		{"a digest", `controller: {image: {digest: "sha256:` + strings.Repeat("0f", 32) + `"}}`},
		{"a registry with a port and a path", `image: {registry: "registry.example:5000/team/sub"}`},
		{"an IPv6 registry", `image: {registry: "[2001:db8::1]:5000"}`},
		{"exclusion off without the proxy", `proxy: {excludeDeadNodes: false}`},
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
