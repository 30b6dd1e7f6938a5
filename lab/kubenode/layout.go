// Package kubenode runs the lab's nodes with the real thing: per node a containerd (with runc
// and the CNI plugins) and a kubelet, each inside the node's network namespace, with every file
// under the node's folder of the lab, its own cgroup root, and nothing on the host's paths that
// another node or the machine uses. It renders their configuration (config.go, pure), prepares a
// node (cgroups, folders, images) and removes what they leave behind by name (cleanup.go).
// FIELD-NOTES.md, "Containers", lists what this machine needed for it.
package kubenode

import (
	"net/netip"
	"path/filepath"
)

// Node is one lab node as its containerd and kubelet see it.
type Node struct {
	Lab  string // the lab's name: the cgroup root and the CNI network are named after it
	Name string // the Node object's name, --hostname-override
	// Dir is the node's folder; everything the node writes is under it (Layout).
	Dir     string
	IP      netip.Addr   // InternalIP, --node-ip: the node's LAN address
	PodCIDR netip.Prefix // the CNI bridge's range, Node.spec.podCIDR

	ClusterDNS    netip.Addr // the kube-dns Service's ClusterIP, in every Pod's resolv.conf
	ClusterDomain string
	// ResolvConf is the kubelet's resolvConf: the upstream of dnsPolicy Default and the search
	// domains ClusterFirst Pods inherit. The lab's has no nameserver: nothing is resolved outside.
	ResolvConf string

	// Registry is the lab's image registry, which every registry host's pulls go to; none (the
	// zero value) makes every pull fail at once.
	Registry netip.AddrPort

	NodeBin      string // node-build.sh's folder: containerd, containerd-shim-runc-v2, ctr, crictl, cni/
	Runc         string // the runc binary (Debian's)
	SandboxImage string // the Pod sandbox ("pause") image, pinned so that it is never pulled or collected

	// The kubelet's credentials (lab/controlplane.NodeCredentials).
	Kubeconfig, CAFile, ServingCert, ServingKey string
}

// CgroupRoot is the kubelet's cgroupRoot: a directory of its own in every cgroup v1 controller,
// named after the lab and the node so that down finds it by name.
func (n Node) CgroupRoot() string { return "/" + n.Lab + "-" + n.Name }

// NetworkName is the CNI network's name; libcni caches results under /var/lib/cni/results in
// files that start with it, which down removes by that name.
func (n Node) NetworkName() string { return n.Lab + "-" + n.Name }

// Paths of the node's files, all under Dir.
func (n Node) ContainerdDir() string    { return filepath.Join(n.Dir, "containerd") }
func (n Node) ContainerdConfig() string { return filepath.Join(n.ContainerdDir(), "config.toml") }
func (n Node) ContainerdRoot() string   { return filepath.Join(n.ContainerdDir(), "root") }
func (n Node) ContainerdState() string  { return filepath.Join(n.ContainerdDir(), "state") }
func (n Node) RuncRoot() string         { return filepath.Join(n.ContainerdDir(), "runc") }
func (n Node) Socket() string           { return filepath.Join(n.ContainerdDir(), "containerd.sock") }
func (n Node) RegistryHosts() string    { return filepath.Join(n.ContainerdDir(), "certs.d") }
func (n Node) CNIConfDir() string       { return filepath.Join(n.Dir, "cni", "net.d") }
func (n Node) CNIDataDir() string       { return filepath.Join(n.Dir, "cni", "ipam") }
func (n Node) CNIBinDir() string        { return filepath.Join(n.NodeBin, "cni") }
func (n Node) KubeletRoot() string      { return filepath.Join(n.Dir, "kubelet") }
func (n Node) KubeletConfig() string    { return filepath.Join(n.Dir, "kubelet-config.yaml") }
func (n Node) PodLogsDir() string       { return filepath.Join(n.Dir, "pod-logs") }

// Endpoint is the CRI endpoint of the node's containerd, for the kubelet and crictl.
func (n Node) Endpoint() string { return "unix://" + n.Socket() }
