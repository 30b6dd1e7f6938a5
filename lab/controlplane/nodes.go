package controlplane

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubeletClientUser is the user the API server presents to kubelets (kubectl exec, logs, port
// forwarding) with WithNodeAuthorization. It is bound to the system:kubelet-api-admin
// ClusterRole, which is what a kubelet's Webhook authorization asks the API server about.
const KubeletClientUser = "kube-apiserver-kubelet-client"

// WithNodeAuthorization makes the control plane ready for real kubelets: the API server
// authorizes with Node,RBAC and runs the NodeRestriction admission plugin, so that a kubelet
// authenticated as system:node:<name> (NodeCredentials) reads and writes only what its Pods need;
// it reaches kubelets on their InternalIP with a client certificate of the cluster's CA
// (KubeletClientUser) and verifies their serving certificates against that CA. Without it the
// API server runs RBAC alone, as other tests expect.
func WithNodeAuthorization() Option {
	return func(o *options) error {
		o.nodeAuthorization = true
		return nil
	}
}

// nodeAuthorizationArgs are the API server's flags for WithNodeAuthorization.
func (c *Cluster) nodeAuthorizationArgs() []string {
	return []string{
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate=" + c.pki.kubeletClientCertFile,
		"--kubelet-client-key=" + c.pki.kubeletClientKeyFile,
		"--kubelet-certificate-authority=" + c.pki.caFile,
		"--kubelet-preferred-address-types=InternalIP",
	}
}

// writeKubeletClientCert writes the API server's client certificate for kubelets.
func (p *pki) writeKubeletClientCert(dir string) error {
	cert, key, err := p.clientCert(KubeletClientUser, nil)
	if err != nil {
		return err
	}
	p.kubeletClientCertFile = filepath.Join(dir, "apiserver-kubelet-client.crt")
	p.kubeletClientKeyFile = filepath.Join(dir, "apiserver-kubelet-client.key")
	return errors.Join(os.WriteFile(p.kubeletClientCertFile, cert, 0o600),
		os.WriteFile(p.kubeletClientKeyFile, key, 0o600))
}

// bindKubeletClient lets KubeletClientUser use every kubelet's API, as kubeadm's binding does.
func (c *Cluster) bindKubeletClient(ctx context.Context) error {
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "frontdesk-test:apiserver-kubelet-client"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: KubeletClientUser}},
	}
	_, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("binding %s to system:kubelet-api-admin: %w", KubeletClientUser, err)
	}
	return nil
}

// NodeCredentials are the files a kubelet of node Name runs with.
type NodeCredentials struct {
	// Kubeconfig authenticates as system:node:<name> in group system:nodes (a client
	// certificate of the cluster's CA), the identity the Node authorizer knows.
	Kubeconfig string
	// CAFile is the cluster's CA: the kubelet's authentication.x509.clientCAFile, which the API
	// server's client certificate is signed by.
	CAFile string
	// ServingCert and ServingKey are the kubelet's serving certificate, for the node's address,
	// signed by the cluster's CA (the API server verifies it with WithNodeAuthorization).
	ServingCert, ServingKey string
}

// NodeCredentials writes the credentials of a kubelet for the node named name whose
// InternalIP is ip into dir (created if missing).
func (c *Cluster) NodeCredentials(dir, name string, ip netip.Addr) (NodeCredentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return NodeCredentials{}, err
	}
	cert, key, err := c.pki.clientCert("system:node:"+name, []string{"system:nodes"})
	if err != nil {
		return NodeCredentials{}, err
	}
	cfg := c.baseConfig()
	cfg.CertData, cfg.KeyData = cert, key
	scert, skey, err := c.pki.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{name},
		IPAddresses: []net.IP{net.IP(ip.AsSlice())},
	})
	if err != nil {
		return NodeCredentials{}, err
	}
	creds := NodeCredentials{
		Kubeconfig:  filepath.Join(dir, "kubeconfig"),
		CAFile:      filepath.Join(dir, "ca.crt"),
		ServingCert: filepath.Join(dir, "kubelet.crt"),
		ServingKey:  filepath.Join(dir, "kubelet.key"),
	}
	return creds, errors.Join(
		WriteKubeconfigFile(creds.Kubeconfig, "system:node:"+name, cfg),
		os.WriteFile(creds.CAFile, c.pki.caPEM, 0o644),
		os.WriteFile(creds.ServingCert, scert, 0o644),
		os.WriteFile(creds.ServingKey, skey, 0o600))
}
