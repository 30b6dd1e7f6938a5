package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// certLifetime outlives any test run; a short one keeps a leaked key useless.
const certLifetime = 24 * time.Hour

// pki is the cluster's private CA and the files the components read. One CA
// signs the API server's serving certificate and every client certificate, so
// one CA bundle verifies both directions. A second CA, used only for the
// front-proxy client certificate, stays inside newPKI.
type pki struct {
	caCert *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte

	caFile          string // --client-ca-file, --root-ca-file
	servingCertFile string // --tls-cert-file
	servingKeyFile  string // --tls-private-key-file
	saKeyFile       string // --service-account-signing-key-file, kcm --service-account-private-key-file
	saPubFile       string // --service-account-key-file

	frontProxyCAFile   string // --requestheader-client-ca-file
	frontProxyCertFile string // --proxy-client-cert-file
	frontProxyKeyFile  string // --proxy-client-key-file

	kubeletClientCertFile string // --kubelet-client-certificate (WithNodeAuthorization)
	kubeletClientKeyFile  string // --kubelet-client-key
}

// frontProxyClient is the name the API server presents to aggregated API
// servers, and the only one they accept request headers from.
const frontProxyClient = "front-proxy-client"

// newPKI creates the CA, the API server's serving certificate (valid for the
// loopback addresses, localhost, the in-cluster names of the kubernetes
// Service and the given addresses: its Service IPs and any WithBindAddress
// address) and the ServiceAccount token signing key, and writes
// them to dir.
func newPKI(dir string, kubernetesServiceIPs []netip.Addr) (*pki, error) {
	p, err := newCA("frontdesk-test-ca")
	if err != nil {
		return nil, err
	}
	p.caFile = filepath.Join(dir, "ca.crt")
	p.servingCertFile = filepath.Join(dir, "apiserver.crt")
	p.servingKeyFile = filepath.Join(dir, "apiserver.key")
	p.saKeyFile = filepath.Join(dir, "sa.key")
	p.saPubFile = filepath.Join(dir, "sa.pub")
	p.frontProxyCAFile = filepath.Join(dir, "front-proxy-ca.crt")
	p.frontProxyCertFile = filepath.Join(dir, "front-proxy-client.crt")
	p.frontProxyKeyFile = filepath.Join(dir, "front-proxy-client.key")

	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, a := range kubernetesServiceIPs {
		ips = append(ips, net.IP(a.AsSlice()))
	}
	servingCert, servingKey, err := p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: ips,
	})
	if err != nil {
		return nil, err
	}

	// A CA of its own, as kubeadm does: a certificate from the client CA
	// must not be able to assert any user name in request headers.
	frontProxy, err := newCA("frontdesk-test-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	frontProxyCert, frontProxyKey, err := frontProxy.clientCert(frontProxyClient, nil)
	if err != nil {
		return nil, err
	}

	saKey, err := newKey()
	if err != nil {
		return nil, err
	}
	saKeyPEM, err := keyPEM(saKey)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}

	for path, data := range map[string][]byte{
		p.caFile:             p.caPEM,
		p.servingCertFile:    servingCert,
		p.servingKeyFile:     servingKey,
		p.saKeyFile:          saKeyPEM,
		p.saPubFile:          pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
		p.frontProxyCAFile:   frontProxy.caPEM,
		p.frontProxyCertFile: frontProxyCert,
		p.frontProxyKeyFile:  frontProxyKey,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newCA returns a pki holding only a new self-signed CA.
func newCA(name string) (*pki, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &pki{
		caCert: cert,
		caKey:  key,
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// clientCert returns a PEM certificate and key that kube-apiserver's x509
// authenticator maps to user name with the given groups (CN and O).
func (p *pki) clientCert(name string, groups []string) (certPEM, keyPEM []byte, err error) {
	return p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// sign fills in the serial, validity and key usage of tmpl, signs it with the
// CA and returns the certificate and a new private key, both PEM.
func (p *pki) sign(tmpl *x509.Certificate) (certOut, keyOut []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Minute)
	tmpl.NotAfter = now.Add(certLifetime)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

// newKey makes a P-256 key: quick to generate, and accepted by kube-apiserver
// both for TLS and for signing ServiceAccount tokens (ES256).
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; if it ever does, nothing here
		// can work anyway.
		panic(err)
	}
	return n
}
