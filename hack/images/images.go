package main

import "github.com/frontdesk-lb/frontdesk/hack/images/build"

// The images `make images` builds, as data: adding an image is adding an entry. docs/images.md
// describes each; keep it in step.

// nonroot is the user the controller and CoreDNS run as (distroless's convention).
var nonroot = build.User{Name: "nonroot", ID: 65532, Home: "/home/nonroot"}

// Layers shared by several images: equal sources give equal layers, stored once.
var (
	// nonrootBase: passwd entries, /tmp, and the CA bundle (the AWS provider speaks HTTPS).
	nonrootBase = build.Layer{build.Accounts(nonroot), build.Dirs("/tmp"), build.CACertificates()}

	// netfilterTools: what the node proxies exec (knftables runs nft; proxy/conntrack.go runs
	// conntrack), with their shared libraries and the dynamic loader from libc6, nothing else.
	netfilterTools = build.Layer{build.Debian([]string{
		"nftables", "conntrack",
		"libnftables1", "libmnl0", "libnftnl11", "libxtables12", "libjansson4", "libgmp10",
		"libedit2", "libtinfo6", "libbsd0", "libmd0",
		"libnetfilter-conntrack3", "libnfnetlink0",
		"libc6",
	}, "/usr/sbin/nft", "/usr/sbin/conntrack")}

	// busybox: the static busybox with a link per applet (/bin/sh, wget, nslookup, sleep, ...).
	busybox = build.Layer{
		build.Debian([]string{"busybox-static"}, "/bin/busybox"),
		build.BusyboxApplets("busybox-static"),
		build.Accounts(),
		build.Dirs("/tmp", "/var/tmp", "/home"),
	}
)

const k8sTools = "hack/k8s" // the module pinning Kubernetes (hack/k8s/build.sh builds from it)

var images = []build.Image{
	{
		Name: "frontdesk-lb/frontdesk-controller", Local: true,
		Title:       "frontdesk-controller",
		Description: "frontdesk's cloud-controller-manager: LoadBalancer Services on AWS and bare metal",
		Layers:      []build.Layer{nonrootBase, {build.Go("", "./cmd/frontdesk-controller", "/usr/local/bin/frontdesk-controller")}},
		Entrypoint:  []string{"/usr/local/bin/frontdesk-controller"},
		User:        "65532:65532",
	},
	{
		Name: "frontdesk-lb/frontdesk-speaker", Local: true,
		Title:       "frontdesk-speaker",
		Description: "frontdesk's per-node speaker (ARP/NDP/BGP) with its nftables node proxy; runs as root with NET_ADMIN and NET_RAW",
		Layers:      []build.Layer{netfilterTools, {build.Go("", "./cmd/frontdesk-speaker", "/usr/local/bin/frontdesk-speaker")}},
		Entrypoint:  []string{"/usr/local/bin/frontdesk-speaker"},
	},
	{
		Name: "frontdesk-lb/frontdesk-proxy", Local: true,
		Title:       "frontdesk-proxy",
		Description: "frontdesk's nftables node proxy on its own (kube-proxy's stand-in); runs as root with NET_ADMIN",
		Layers:      []build.Layer{netfilterTools, {build.Go("", "./cmd/frontdesk-proxy", "/usr/local/bin/frontdesk-proxy")}},
		Entrypoint:  []string{"/usr/local/bin/frontdesk-proxy"},
	},

	// Lab workloads, named as Pods name them (short names, normalized).
	{
		Name:        "hashicorp/http-echo",
		Tags:        []build.Tag{build.Version(), build.Fixed("latest")},
		Title:       "http-echo (frontdesk's stand-in)",
		Description: "frontdesk's cmd/http-echo: the flags of hashicorp/http-echo (-text, -listen, -status-code, -version)",
		Layers:      []build.Layer{{build.Go("", "./cmd/http-echo", "/http-echo")}},
		Entrypoint:  []string{"/http-echo"},
		User:        "65532:65532",
	},
	{
		// Also the conformance set's busybox, under another name and tag (conformance.go).
		Name:        "busybox",
		Tags:        []build.Tag{build.DebianUpstream("busybox-static"), build.Fixed("latest")},
		Title:       "busybox",
		Description: "Debian's busybox-static with its applet links",
		Layers:      []build.Layer{busybox},
		Cmd:         []string{"sh"},
		Labels:      map[string]string{"org.opencontainers.image.licenses": "GPL-2.0-only"},
	},
	{
		// The kubelet's sandbox image. 3.10.2 is the tag Kubernetes 1.37 defaults to.
		Name:        "pause",
		Tags:        []build.Tag{build.Fixed("3.10.2")},
		Title:       "pause",
		Description: "frontdesk's hack/images/pause: holds a Pod's namespaces, reaps zombies, exits on SIGINT or SIGTERM",
		Layers:      []build.Layer{{build.Go("", "./hack/images/pause", "/pause")}},
		Entrypoint:  []string{"/pause"},
		User:        "65535:65535",
	},
	{
		// Tagged with the agnhost version the pinned Kubernetes' e2e framework asks for. The
		// conformance set's agnhost is this one with a layer of tools above (conformance.go).
		Name:        "e2e-test-images/agnhost",
		Tags:        []build.Tag{build.ModuleFile(k8sTools, "k8s.io/kubernetes", "test/images/agnhost/VERSION")},
		Title:       "agnhost",
		Description: "Kubernetes' e2e test image: agnhost from the pinned Kubernetes, on the busybox layer",
		Layers: []build.Layer{busybox, {
			build.K8sBinary("agnhost", "/agnhost"),
			build.Symlink("/agnhost-2", "agnhost"),
			build.Dirs("/uploads"),
		}},
		Entrypoint: []string{"/agnhost"},
		Cmd:        []string{"pause"},
	},
	{
		Name:        "kube-proxy",
		Tags:        []build.Tag{build.ModuleVersion(k8sTools, "k8s.io/kubernetes")},
		Title:       "kube-proxy",
		Description: "kube-proxy from the pinned Kubernetes, with nft and conntrack for its nftables mode",
		Layers:      []build.Layer{netfilterTools, {build.K8sBinary("kube-proxy", "/usr/local/bin/kube-proxy")}},
		Entrypoint:  []string{"/usr/local/bin/kube-proxy"},
	},
	{
		Name: "frontdesk-lb/gobgp", Local: true,
		Tags:        []build.Tag{build.ModuleVersion("hack/tools", "github.com/osrg/gobgp/v4")},
		Title:       "gobgp",
		Description: "GoBGP's gobgpd and gobgp CLI, pinned in hack/tools/go.mod: the lab's router",
		Layers: []build.Layer{{
			build.Go("hack/tools", "github.com/osrg/gobgp/v4/cmd/gobgpd", "/usr/local/bin/gobgpd"),
			build.Go("hack/tools", "github.com/osrg/gobgp/v4/cmd/gobgp", "/usr/local/bin/gobgp"),
		}},
		Entrypoint: []string{"/usr/local/bin/gobgpd"},
	},
	{
		// Built elsewhere: make images FRONTDESK_COREDNS=/path/to/coredns (and
		// FRONTDESK_COREDNS_VERSION=v1.x.y for its tag); skipped without it.
		Name:        "coredns/coredns",
		Tags:        []build.Tag{build.Variable("FRONTDESK_COREDNS_VERSION", "latest")},
		Title:       "coredns",
		Description: "CoreDNS, a binary built outside this repository",
		Layers:      []build.Layer{nonrootBase, {build.File("FRONTDESK_COREDNS", "/coredns")}},
		Entrypoint:  []string{"/coredns"},
		User:        "65532:65532",
	},
}
