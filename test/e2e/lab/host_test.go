//go:build netns && integration

package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

// hostState is what a lab could change in the machine's own network namespace and kernel, for a
// comparison before, during and after the lab: everything of the lab belongs in its namespaces.
type hostState struct {
	netns, nftTables []string
	links, addrs     []string // name, MTU, master, flags; name and address
	routes           []string // IPv4 and IPv6, every table
	sysctls          map[string]string
	// runcState are runc's container folders in containerd's machine-wide default root, which
	// the lab's containerds must not use (their runc root is under the lab's directory).
	runcState []string
}

// runcDefaultRoot is where containerd's runc shim keeps runc's state unless told otherwise.
const runcDefaultRoot = "/run/containerd/runc"

// netSysctls are the machine namespace's network settings a node proxy or speaker might be
// tempted to set (route_localnet above all, which the brief forbids), and the conntrack and
// bridge settings that are global to the machine.
var netSysctls = []string{
	"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/ip_nonlocal_bind", "net/ipv6/ip_nonlocal_bind",
	"net/ipv4/conf/all/route_localnet", "net/ipv4/conf/default/route_localnet",
	"net/ipv4/conf/all/forwarding", "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/all/arp_ignore",
	"net/ipv4/conf/all/arp_announce", "net/ipv4/conf/all/proxy_arp", "net/ipv4/conf/all/accept_local",
	"net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
	"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
}

func readHostState(t testing.TB) hostState {
	t.Helper()
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v\n%s", err, out)
	}
	h := hostState{netns: netns.List(""), nftTables: strings.Split(strings.TrimSpace(string(out)), "\n"),
		sysctls: map[string]string{}}
	var links []struct {
		Name   string   `json:"ifname"`
		MTU    int      `json:"mtu"`
		Master string   `json:"master"`
		Flags  []string `json:"flags"`
		Addrs  []struct {
			Local  string `json:"local"`
			Prefix int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	ipJSON(t, &links, "-j", "addr", "show")
	for _, l := range links {
		h.links = append(h.links, fmt.Sprintf("%s mtu %d master %q %v", l.Name, l.MTU, l.Master, l.Flags))
		for _, a := range l.Addrs {
			h.addrs = append(h.addrs, fmt.Sprintf("%s %s/%d", l.Name, a.Local, a.Prefix))
		}
	}
	for _, family := range []string{"-4", "-6"} {
		var routes []map[string]any
		ipJSON(t, &routes, "-j", family, "route", "show", "table", "all")
		for _, r := range routes {
			delete(r, "expires") // counts down
			b, _ := json.Marshal(r)
			h.routes = append(h.routes, string(b))
		}
	}
	for _, k := range append(slices.Clone(netSysctls), kubenode.KubeletSysctls...) {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			h.sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	h.runcState, _ = filepath.Glob(filepath.Join(runcDefaultRoot, "*", "*"))
	slices.Sort(h.links)
	slices.Sort(h.addrs)
	slices.Sort(h.routes)
	return h
}

func ipJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).Output()
	if err != nil {
		t.Fatalf("ip %s: %v", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("ip %s: %v", strings.Join(args, " "), err)
	}
}

// checkHostNetwork fails t if the machine's namespace lost or gained a link, an address or a
// route, or a network setting changed, against before.
func checkHostNetwork(t testing.TB, before, now hostState, when string) {
	t.Helper()
	for what, d := range map[string]string{
		"links":     cmp.Diff(before.links, now.links),
		"addresses": cmp.Diff(before.addrs, now.addrs),
		"routes":    cmp.Diff(before.routes, now.routes),
	} {
		if d != "" {
			t.Errorf("the machine's %s changed %s (-before +now):\n%s", what, when, d)
		}
	}
	for _, k := range netSysctls {
		if before.sysctls[k] != now.sysctls[k] {
			t.Errorf("the machine's %s changed %s: %q, was %q", k, when, now.sysctls[k], before.sysctls[k])
		}
	}
}

// checkHostDuringLab checks, with the lab up, that its components left the machine's network
// alone and listen on no socket of the machine's namespace.
func checkHostDuringLab(t testing.TB, before hostState, o supervisor.Options) {
	t.Helper()
	checkHostNetwork(t, before, readHostState(t), "while the lab runs")
	for _, l := range labListeners(t, o) {
		t.Errorf("a lab component listens in the machine's namespace: %s", l)
	}
	for _, d := range routingDaemons(t) {
		t.Errorf("a routing daemon runs in the machine's namespace: %s", d)
	}
}

// routingDaemonNames are the programs of the Debian packages make deps installs (bird2, frr,
// gobgpd) that would speak BGP or rewrite routes if their package scripts had started them
// (hack/install-deps.sh keeps them from it). The lab's and the tests' copies run in namespaces.
var routingDaemonNames = []string{"bird", "bgpd", "zebra", "watchfrr", "staticd", "mgmtd", "gobgpd"}

// routingDaemons are the processes of routingDaemonNames in the machine's network namespace (the
// test's own).
func routingDaemons(t testing.TB) []process {
	t.Helper()
	found, err := processesIn("/proc/self/ns/net", routingDaemonNames...)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// process is a process found by processesIn.
type process struct {
	pid  int
	name string // its comm
}

func (p process) String() string { return fmt.Sprintf("%s (pid %d)", p.name, p.pid) }

// processesIn lists the processes whose name (comm) is one of names, on the network namespace
// at nsPath (/run/netns/<name>, or /proc/self/ns/net for the test's own).
func processesIn(nsPath string, names ...string) ([]process, error) {
	want, err := os.Stat(nsPath)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	var found []process
	for _, f := range comms {
		comm, err := os.ReadFile(f)
		name := strings.TrimSpace(string(comm))
		if err != nil || !slices.Contains(names, name) {
			continue // gone meanwhile, or another program
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if ns, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && os.SameFile(ns, want) {
			found = append(found, process{pid: pid, name: name})
		}
	}
	return found, nil
}

// ssPid finds the owners in ss -p output: users:(("name",pid=123,fd=4),...).
var ssPid = regexp.MustCompile(`pid=(\d+)`)

// labListeners are the listening sockets of the machine's namespace owned by a program of the
// lab.
func labListeners(t testing.TB, o supervisor.Options) []string {
	t.Helper()
	out, err := exec.Command("ss", "-Hlntup").Output()
	if err != nil {
		t.Fatalf("ss -lntup: %v", err)
	}
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		for _, m := range ssPid.FindAllStringSubmatch(line, -1) {
			pid, _ := strconv.Atoi(m[1])
			// The lab's: run from its directory, with a container's root filesystem there, or
			// given a path in it (its etcd's data, its kubelets' configuration). The shared
			// binaries' folders alone do not tell: other tests' control planes run them too.
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			root, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.HasPrefix(exe, o.Dir) || strings.HasPrefix(root, o.Dir) || strings.Contains(string(cmdline), o.Dir) {
				found = append(found, fmt.Sprintf("%s (%s)", strings.Join(strings.Fields(line), " "), exe))
			}
		}
	}
	return found
}

// checkNothingLeft fails t if down left anything of the lab named name behind: a namespace (the
// lab's, or a Pod's), an nftables table, a link, address, route or setting changed in the
// machine's namespace, a kernel setting its kubelets changed, a mount under the lab's directory,
// a cgroup of its nodes or router, a CNI result or a container log link.
func checkNothingLeft(t testing.TB, before hostState, name, dir string) {
	t.Helper()
	after := readHostState(t)
	// Other tests on the machine make and remove namespaces of their own meanwhile: only the
	// lab's names and containerd's (cni-*) count.
	for _, ns := range after.netns {
		if !slices.Contains(before.netns, ns) && (strings.HasPrefix(ns, name+"-") || strings.HasPrefix(ns, "cni-")) {
			t.Errorf("network namespace %s appeared with the lab and is still there", ns)
		}
	}
	if d := cmp.Diff(before.nftTables, after.nftTables); d != "" {
		t.Errorf("nftables tables of the machine's namespace before and after the lab (-before +after):\n%s", d)
	}
	checkHostNetwork(t, before, after, "after the lab")
	for _, d := range routingDaemons(t) {
		t.Errorf("a routing daemon runs in the machine's namespace after the lab: %s", d)
	}
	for _, d := range after.runcState {
		if !slices.Contains(before.runcState, d) {
			t.Errorf("runc state left in the machine's %s: %s", runcDefaultRoot, d)
		}
	}
	for _, k := range kubenode.KubeletSysctls {
		if before.sysctls[k] != after.sysctls[k] {
			t.Errorf("kernel setting %s is %q after the lab, was %q: down did not put back what the kubelets set",
				k, after.sysctls[k], before.sysctls[k])
		}
	}
	if m, err := kubenode.MountsUnder(dir); err != nil || len(m) > 0 {
		t.Errorf("mounts left under %s: %v %v", dir, m, err)
	}
	if cg := kubenode.CgroupsOf(name + "-"); len(cg) > 0 {
		t.Errorf("cgroups left: %v", cg)
	}
	if m := kubenode.CNIResults(name, dir); len(m) > 0 {
		t.Errorf("CNI results left: %v", m)
	}
	links, _ := os.ReadDir(kubenode.ContainerLogLinks)
	for _, l := range links {
		if dest, err := os.Readlink(filepath.Join(kubenode.ContainerLogLinks, l.Name())); err == nil && strings.HasPrefix(dest, dir+"/") {
			t.Errorf("container log link left: %s -> %s", l.Name(), dest)
		}
	}
}
