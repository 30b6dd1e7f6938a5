package controlplane

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOptions(t *testing.T) {
	v4, v6 := DefaultServiceCIDRv4, DefaultServiceCIDRv6
	tests := []struct {
		name    string
		opt     Option
		wantErr string // substring; empty for success
	}{
		{"one IPv4 range", WithServiceCIDR(v4), ""},
		{"one IPv6 range", WithServiceCIDR(v6), ""},
		{"dual-stack", WithDualStack(), ""},
		{"IPv6 primary", WithServiceCIDR(v6, v4), ""},
		{"no range", WithServiceCIDR(), "0 service CIDRs"},
		{"three ranges", WithServiceCIDR(v4, v6, v4), "3 service CIDRs"},
		{"same family twice", WithServiceCIDR(v4, netip.MustParsePrefix("10.97.0.0/16")), "same family"},
		{"host bits", WithServiceCIDR(netip.MustParsePrefix("10.96.0.1/16")), "did you mean 10.96.0.0/16"},
		{"zero prefix", WithServiceCIDR(netip.Prefix{}), "not a valid"},
		{"token", WithToken("t", "u", "g1", "g2"), ""},
		{"empty token", WithToken("", "u"), "must not be empty"},
		{"comma in group", WithToken("t", "u", "a,b"), "comma"},
		{"known component", WithExtraArgs("kube-apiserver", "--v=4"), ""},
		{"unknown component", WithExtraArgs("kubelet", "--v=4"), `unknown component "kubelet"`},
		{"negative timeout", WithStartTimeout(-1), "not positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultOptions()
			err := tc.opt(&o)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWithControllerManagerDefaults(t *testing.T) {
	o := defaultOptions()
	if o.controllers != nil {
		t.Fatalf("controllers = %v by default, want none (no kube-controller-manager)", o.controllers)
	}
	if err := WithControllerManager()(&o); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultControllers, o.controllers); diff != "" {
		t.Errorf("controllers (-want +got):\n%s", diff)
	}
}

func TestTailLines(t *testing.T) {
	long := strings.Repeat("x", maxLineLen+10)
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"empty", "", 3, "(empty)"},
		{"fewer lines than n", "a\nb\n", 3, "a\nb\n"},
		{"last n lines", "a\nb\nc\nd\n", 2, "c\nd\n"},
		{"no final newline", "a\nb", 1, "b\n"},
		{"long line cut", long + "\n", 1, long[:maxLineLen] + "…\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tailLines([]byte(tc.in), tc.n)); diff != "" {
				t.Errorf("tailLines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	err := writeTokenFile(path, []staticToken{
		{token: "t1", user: "alice", groups: []string{"g1", "g2"}},
		{token: "t2", user: "bob"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "t1,alice,alice,\"g1,g2\"\nt2,bob,bob\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("token file (-want +got):\n%s", diff)
	}
}

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(dir, kubernetesServiceIPs([]netip.Prefix{DefaultServiceCIDRv4, DefaultServiceCIDRv6}))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.caPEM) {
		t.Fatal("CA PEM does not parse")
	}

	serving := readCert(t, p.servingCertFile)
	for _, host := range []string{"127.0.0.1", "::1", "localhost", "10.96.0.1", "fd00:10:96::1", "kubernetes.default.svc"} {
		_, err := serving.Verify(x509.VerifyOptions{DNSName: host, Roots: roots})
		if err != nil {
			t.Errorf("serving certificate does not verify for %s: %v", host, err)
		}
	}

	certPEM, _, err := p.clientCert("alice", []string{"team-a", "team-b"})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	client, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify: %v", err)
	}
	// kube-apiserver's x509 authenticator reads the user from CN, groups from O.
	if diff := cmp.Diff([]string{"alice", "team-a", "team-b"},
		append([]string{client.Subject.CommonName}, client.Subject.Organization...)); diff != "" {
		t.Errorf("client certificate subject (-want +got):\n%s", diff)
	}

	for _, f := range []string{p.saKeyFile, p.saPubFile, p.servingKeyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if blk, _ := pem.Decode(b); blk == nil {
			t.Errorf("%s is not PEM", f)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s is not PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckBinaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Present but not executable: as good as missing.
	if err := os.WriteFile(filepath.Join(dir, "kube-scheduler"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	paths, err := checkBinaries(dir, "etcd")
	if err != nil {
		t.Fatalf("etcd present: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"etcd": filepath.Join(dir, "etcd")}, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}

	_, err = checkBinaries(dir, "etcd", "kube-apiserver", "kube-scheduler")
	if !errors.Is(err, ErrBinariesMissing) {
		t.Fatalf("err = %v, want ErrBinariesMissing", err)
	}
	for _, want := range []string{"kube-apiserver, kube-scheduler", dir, "run: make k8s-tools"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestBinDirFromEnv(t *testing.T) {
	t.Setenv(BinDirEnv, "/somewhere/bin")
	got, err := BinDir()
	if err != nil || got != "/somewhere/bin" {
		t.Errorf("BinDir() = %q, %v; want /somewhere/bin from %s", got, err, BinDirEnv)
	}
}

// fatalRecorder stands in for a test so that Start's t.Fatalf can be observed
// instead of failing this test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartFailsWithoutBinaries(t *testing.T) {
	t.Setenv(BinDirEnv, t.TempDir())
	rec := &fatalRecorder{TB: t}
	done := make(chan *Cluster)
	go func() {
		defer close(done)
		done <- Start(rec)
	}()
	if c, ok := <-done; ok {
		c.Stop()
		t.Fatal("Start returned a cluster with no binaries")
	}
	for _, want := range []string{"etcd, kube-apiserver not found", "run: make k8s-tools"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("Start failed with %q, want a message containing %q", rec.msg, want)
		}
	}
}
