package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminUser is the user name of Cluster.Config. Its group, system:masters,
// bypasses RBAC.
const AdminUser = "frontdesk-test-admin"

// Client QPS for configs handed to tests: client-go's default (5 QPS) makes a
// test that creates a few dozen objects wait on its own rate limiter.
const (
	testQPS   = 100
	testBurst = 200
)

// setAdminConfig builds Config, Client and the admin kubeconfig for the API
// server's current port.
func (c *Cluster) setAdminConfig() error {
	cert, key, err := c.pki.clientCert(AdminUser, []string{"system:masters"})
	if err != nil {
		return err
	}
	cfg := c.baseConfig()
	cfg.CertData, cfg.KeyData = cert, key
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("admin clientset: %w", err)
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return fmt.Errorf("admin HTTP client: %w", err)
	}
	path, err := c.WriteKubeconfig("admin", cfg)
	if err != nil {
		return err
	}
	c.Config, c.Client, c.adminHTTP, c.KubeconfigPath = cfg, client, httpClient, path
	return nil
}

// baseConfig is a config with the API server's address and CA, and no
// credentials.
func (c *Cluster) baseConfig() *rest.Config {
	return &rest.Config{
		Host:            "https://" + c.apiServerHostPort(),
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caPEM},
		QPS:             testQPS,
		Burst:           testBurst,
	}
}

// ConfigForUser returns a config that authenticates as user name in groups,
// with a client certificate signed by the cluster's CA. The user has no
// permissions beyond RBAC's defaults for system:authenticated until the test
// binds some, which is what least-privilege tests need.
func (c *Cluster) ConfigForUser(t testing.TB, name string, groups ...string) *rest.Config {
	t.Helper()
	cert, key, err := c.pki.clientCert(name, groups)
	if err != nil {
		t.Fatalf("cluster: client certificate for %q: %v", name, err)
	}
	cfg := c.baseConfig()
	cfg.CertData, cfg.KeyData = cert, key
	return cfg
}

// ConfigForToken returns a config that authenticates with a bearer token
// given to Start with WithToken.
func (c *Cluster) ConfigForToken(token string) *rest.Config {
	cfg := c.baseConfig()
	cfg.BearerToken = token
	return cfg
}

// ConfigForServiceAccount returns a config that authenticates as ServiceAccount
// namespace/name, with a one-hour token from the TokenRequest API, the way a
// controller running in a Pod would. The ServiceAccount is created if missing
// (the namespace must exist).
func (c *Cluster) ConfigForServiceAccount(t testing.TB, namespace, name string) *rest.Config {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	_, err := c.Client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("cluster: create ServiceAccount %s/%s: %v", namespace, name, err)
	}
	hour := int64(3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("cluster: token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	return c.ConfigForToken(tr.Status.Token)
}

// WriteKubeconfig writes cfg as a kubeconfig file named <name>.kubeconfig in
// the cluster's directory and returns its path, for running a binary (kubectl,
// a controller under test) with those credentials.
func (c *Cluster) WriteKubeconfig(name string, cfg *rest.Config) (string, error) {
	path := filepath.Join(c.Dir, sanitize(name)+".kubeconfig")
	return path, WriteKubeconfigFile(path, name, cfg)
}

// WriteKubeconfigFile writes cfg as a kubeconfig file at path, its user named name: its server,
// CA, client certificate and bearer token.
func WriteKubeconfigFile(path, name string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name}
	kc.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// writeTokenFile writes kube-apiserver's --token-auth-file: one
// token,user,uid,"group1,group2" line per token. The file must exist even when
// empty, because the flag is always passed.
func writeTokenFile(path string, tokens []staticToken) error {
	var sb strings.Builder
	for _, tk := range tokens {
		fmt.Fprintf(&sb, "%s,%s,%s", tk.token, tk.user, tk.user)
		if len(tk.groups) > 0 {
			fmt.Fprintf(&sb, ",%q", strings.Join(tk.groups, ","))
		}
		sb.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(sb.String()), 0o600)
}
