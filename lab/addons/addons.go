// Package addons renders the cluster add-ons the lab installs besides frontdesk, as a kubeadm
// cluster would have them: CoreDNS behind the kube-dns Service (always), and the real kube-proxy
// as a DaemonSet (when the lab runs it as the node proxy instead of frontdesk's). The manifests
// are YAML templates in manifests/, so they read like the ones users apply.
package addons

import (
	"bytes"
	"embed"
	"fmt"
	"net/netip"
	"text/template"
)

//go:embed manifests/*.yaml
var files embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(files, "manifests/*.yaml"))

// Params are the cluster's facts the add-ons need.
type Params struct {
	ServiceCIDR   netip.Prefix // the kube-dns ClusterIP is taken from it
	ClusterDomain string       // cluster.local
	ClusterCIDR   netip.Prefix // kube-proxy: which traffic comes from Pods
	NodePortCIDR  netip.Prefix // kube-proxy: where NodePorts listen (the nodes' LAN)
	APIServer     string       // https://host:port, reached by address (kube-proxy cannot use a ClusterIP)

	CoreDNSImage   string
	KubeProxyImage string
}

// DNSAddr is the kube-dns Service's ClusterIP: the tenth address of the Service range, as
// kubeadm chooses it. The kubelets' clusterDNS must be the same.
func DNSAddr(serviceCIDR netip.Prefix) netip.Addr {
	a := serviceCIDR.Masked().Addr()
	for range 10 {
		a = a.Next()
	}
	return a
}

// CoreDNS returns the CoreDNS manifests.
func CoreDNS(p Params) ([]byte, error) {
	if p.CoreDNSImage == "" || p.ClusterDomain == "" || !p.ServiceCIDR.IsValid() {
		return nil, fmt.Errorf("coredns: image, cluster domain and Service CIDR must be set")
	}
	return render("coredns.yaml", struct {
		Params
		DNSAddr netip.Addr
	}{p, DNSAddr(p.ServiceCIDR)})
}

// KubeProxy returns the kube-proxy manifests.
func KubeProxy(p Params) ([]byte, error) {
	if p.KubeProxyImage == "" || p.APIServer == "" || !p.ClusterCIDR.IsValid() || !p.NodePortCIDR.IsValid() {
		return nil, fmt.Errorf("kube-proxy: image, API server, cluster CIDR and NodePort CIDR must be set")
	}
	return render("kube-proxy.yaml", p)
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}
