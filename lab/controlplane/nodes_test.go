package controlplane

import (
	"slices"
	"strings"
	"testing"
)

// TestNodeAuthorizationArgs checks the API server's flags with and without
// WithNodeAuthorization: other tests keep RBAC alone.
func TestNodeAuthorizationArgs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []Option
		want, not []string
	}{
		{name: "default", want: []string{"--authorization-mode=RBAC"},
			not: []string{"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction"}},
		{name: "node authorization", opts: []Option{WithNodeAuthorization()},
			want: []string{"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
				"--kubelet-client-certificate=/pki/apiserver-kubelet-client.crt", "--kubelet-client-key=/pki/apiserver-kubelet-client.key",
				"--kubelet-certificate-authority=/pki/ca.crt", "--kubelet-preferred-address-types=InternalIP"},
			not: []string{"--authorization-mode=RBAC"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultOptions()
			for _, opt := range tc.opts {
				if err := opt(&o); err != nil {
					t.Fatal(err)
				}
			}
			c := &Cluster{opts: o, ServiceCIDRs: o.serviceCIDRs, pki: &pki{caFile: "/pki/ca.crt",
				kubeletClientCertFile: "/pki/apiserver-kubelet-client.crt", kubeletClientKeyFile: "/pki/apiserver-kubelet-client.key"}}
			args := c.apiServerArgs()
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("missing %s in %s", w, strings.Join(args, " "))
				}
			}
			for _, n := range tc.not {
				if slices.Contains(args, n) {
					t.Errorf("unexpected %s", n)
				}
			}
		})
	}
}
