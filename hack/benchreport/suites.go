package main

// suite is one group of benchmarks whose figures form one section of docs/benchmarks.md.
type suite struct {
	name    string   // section marker and the argument to `make bench SUITE=...`
	title   string   // section heading
	about   string   // what is measured and the target, in one paragraph
	pkg     string   // package to benchmark
	bench   string   // -bench regexp
	tags    string   // build tags, if the benchmark needs a tier's fixtures
	count   int      // -count; figures are the median over the runs
	root    bool     // needs root (network namespaces)
	k8sBins bool     // needs the control-plane binaries from hack/k8s
	ratios  []ratio  // figures computed from two benchmarks of the same run
	extra   []string // extra `go test` flags
	env     []string // NAME=value settings of the benchmark, shown in the section's command
	// quantiles renders metrics named <what>-<p50|p99|max>-ms as one row per <what>, instead
	// of one column per metric (which is unreadable past a few).
	quantiles bool
}

// ratio reports how many times slower the baseline is than ours, both measured in one run.
type ratio struct {
	label    string
	baseline string
	ours     string
}

// suites lists every benchmark suite. New suites are added here by the issue that brings them.
var suites = []suite{
	{
		name:  "allocator",
		title: "Allocator: LoadBalancer IPs and NodePorts",
		about: "Cost of one allocation with 1k, 10k and 60k addresses already allocated in a /16 " +
			"(target ≤ 1 µs/op and flat), against a linear-scan allocator of the kind MetalLB and " +
			"kube-vip-cloud-provider use, measured in the same run; restoring 10k assignments " +
			"(target ≤ 20 ms); a /64 IPv6 pool; NodePorts at 50% and 95% full.",
		pkg:   "./allocator/",
		bench: ".",
		count: 5,
		ratios: []ratio{
			{"linear scan ÷ frontdesk, 1k allocated", "LinearScanAssign/allocated=1k", "Assign/allocated=1k"},
			{"linear scan ÷ frontdesk, 10k allocated", "LinearScanAssign/allocated=10k", "Assign/allocated=10k"},
			{"linear scan ÷ frontdesk, 60k allocated", "LinearScanAssign/allocated=60k", "Assign/allocated=60k"},
		},
	},
	{
		name:  "control-plane",
		title: "Test control plane: cached start",
		about: "Time for lab/controlplane to start a real control plane from the cached binaries, until " +
			"/readyz (and the controllers' /healthz) answer ok. The cold build of the binaries is a " +
			"one-off, reported by make k8s-tools.",
		pkg:     "./lab/controlplane/",
		bench:   "BenchmarkStart",
		tags:    "integration",
		count:   1,
		k8sBins: true,
		extra:   []string{"-benchtime=5x", "-timeout=20m"},
	},
	{
		name:  "controller",
		title: "Bare-metal controller against the real API server",
		about: "With 10k LoadBalancer Services present: time from the creation of a Service to its " +
			"status.loadBalancer.ingress, seen through a watch, 200 Services one after another (target " +
			"p99 ≤ 250 ms; anchors: the API server's ClusterIP SLO 99.9% < 500 ms, one kube-vip-cloud-provider " +
			"sample ≈160 ms); and the time a restarted provider takes to rebuild its state from the 10k " +
			"Services and IPAllocations (target ≤ 2 s; rebuild-ms is from start to ready, caches " +
			"included, restore-ms the in-memory rebuild alone), with zero addresses moved.",
		pkg:     "./providers/baremetal/",
		bench:   "BenchmarkControllerAt10k",
		tags:    "integration",
		count:   1,
		k8sBins: true,
		extra:   []string{"-benchtime=1x", "-timeout=40m"},
	},
	{
		name:  "election",
		title: "Speaker: election of announcing nodes",
		about: "Rendezvous-hash election of one announcing node per VIP, 10k VIPs (a quarter with " +
			"externalTrafficPolicy Local) over 10, 100 and 1000 nodes: the cost of one full re-election " +
			"after a membership change.",
		pkg:   "./speaker/election/",
		bench: ".",
		count: 5,
	},
	{
		name:  "liveness",
		title: "Speaker: failure detection between speakers",
		about: "UDP heartbeats every 200 ms, dead after 800 ms without one: time for every other " +
			"speaker to see a crashed speaker dead (target detection ≤ 1 s; MetalLB's memberlist ≈4–6 s, " +
			"kube-vip's lease 15 s, Cilium 10–20 s by default) and a leaving one gone (planned " +
			"hand-over), 20 trials on loopback.",
		pkg:   "./speaker/liveness/",
		bench: "Failover",
		count: 1,
		extra: []string{"-benchtime=20x"},
	},
	e2eSuite("./test/e2e/speakers/", suite{
		name:  "l2-failover",
		title: "Speaker: L2 failover end to end",
		about: "Three node namespaces and a client on a bridge, a real API server, frontdesk-controller " +
			"and one frontdesk-speaker process per node; the client sends a UDP request to the VIP every " +
			"5 ms and a responder in each node names the node that got it. 20 trials of each fault of " +
			"the announcing node: SIGKILL of its speaker (the node's data path stays up, so the figure " +
			"is the takeover: fault to first reply from the new node), its link cut (takeover = gap), " +
			"and SIGTERM (planned hand-over). Targets: client served by the new node within 2 s p99, " +
			"planned move ≤ 1 s (anchors: MetalLB ≈5–10 s, Cilium 10–20 s, kube-vip ≈15 s).",
		bench: "BenchmarkL2Failover",
	}, "30m"),
	e2eSuite("./test/e2e/speakers/", suite{
		name:  "blackhole",
		title: "Speaker: failover and BGP withdraw with the API server blackholed (issue 17)",
		about: "The l2-failover set-up with BGP on: gobgpd on the LAN peering with every node, every node " +
			"announcing both addresses, one node announcing both over L2; when it dies one address goes " +
			"to each other node (picked with the speakers' own election). 20 trials, each with the API " +
			"server's port dropped by nftables inside every node namespace (a blackhole: packets dropped, " +
			"not refused, so every API request hangs): SIGKILL of the announcing node's speaker (sigkill " +
			"takeover: fault to the client's first reply from the new node, for each address; each " +
			"survivor's status write then hangs), 0.5 s after both takeovers SIGTERM of one survivor's speaker (sigterm " +
			"takeover: to the first reply from the other survivor; sigterm withdraw: until both its " +
			"routes have left gobgpd's Adj-RIB-In, timed by the gobgp CLI's adj-in and neighbour streams: " +
			"its withdrawals or its session's end, whichever the router tells first), then the " +
			"blackhole lifted (status catch up: until both addresses' IPAllocation status names the node " +
			"now announcing them, polled every 20 ms). The two speakers are restarted between trials. " +
			"Target (issue 17, item 10): hand-over and withdraw ≤ 1 s with the API server blackholed, " +
			"and the status catching up once it answers.",
		bench: "BenchmarkBlackholedAPIServer",
	}, "30m"),
	labSuite(suite{
		name:  "lab",
		title: "The lab as users get it: real kubelets, helm install, first request per Service",
		about: "test/e2e/lab's BenchmarkLab on a warm cache (binaries and images built): the lab from up to " +
			"ready (network, control plane, registry and images on 3 nodes, kubelets, CoreDNS, helm " +
			"install of charts/frontdesk and its rollout; target ≤ 90 s), then 50 LoadBalancer Services " +
			"created one at a time in front of the guide's Deployment: the time from a Service's " +
			"creation to the first successful request from the LAN client through its address (target " +
			"p95 ≤ 1 s; PureLB publishes 0.6–1.4 s from its CI), and its steps as seen from outside the " +
			"components, each from the creation: alloc (the address in the Service's status, by a watch), " +
			"rules (the announcing node's proxy rule for it, by nft monitor in the node), announce (the " +
			"first gratuitous ARP for it on the LAN, by a packet socket in the LAN client), and " +
			"announce to answer. asked-before-announce counts the Services the client sent an ARP " +
			"request for before their announcement. With 50 Services, p99 is the maximum.",
		bench: "^BenchmarkLab$",
	}, "30m"),
	labSuite(suite{
		name:  "lab-failover",
		title: "The lab: failover as a user's client sees it, speaker as a Pod on real kubelets",
		about: "test/e2e/lab's BenchmarkLabFailover: one lab (frontdesk's node proxy, BGP on), the guide's hello " +
			"Deployment with a Pod on each of the 3 nodes, a LoadBalancer Service from the ARP pool " +
			"(externalTrafficPolicy Cluster), and the LAN client requesting it every 15 ms, each request on " +
			"a fresh TCP connection with a 200 ms timeout. Faults on the node announcing the address, 20 " +
			"trials each (with 20 trials p99 is the largest): linkcut (the node's LAN link set down, up " +
			"again after the trial), podstop (its speaker Pod's sandbox stopped, `crictl stopp`: the " +
			"containers are killed, the kubelet makes a new sandbox) and sigkill (the speaker process " +
			"SIGKILLed; the kubelet restarts the container). gap is the longest time between two answers " +
			"from the fault until the client has had 3 s without a failure on another node; failed the " +
			"requests that failed meanwhile; takeover the time from the fault until the client's ARP entry " +
			"names another node; rejoin the same while the node comes back and takes its address back. " +
			"Target: longest gap p99 ≤ 1 s (MetalLB ≈5–10 s, kube-vip ≈15 s, PureLB ≈2.2 s).",
		bench: "^BenchmarkLabFailover$",
	}, "90m"),
	labSuite(suite{
		name:  "dead-node",
		title: "The lab: a dead node as users feel it (issue 15)",
		about: "test/e2e/lab's BenchmarkLabFailover (see lab-failover) with frontdesk's node proxy and its " +
			"dead-node exclusion, whole-node faults, 20 trials each: linkcut (the node's LAN link down), " +
			"freeze (every process of the node SIGSTOPped: its namespace and cgroup root; SIGCONT after " +
			"the trial) and poweroff (its link down and every process SIGKILLed; the supervisor restarts " +
			"containerd and the kubelet 3 s later, the link comes up after the trial). l2-*: the address " +
			"from the ARP pool, the client on the LAN, the fault on the node announcing it; bgp-*: the " +
			"address from the BGP pool, the client behind the router (ECMP over the nodes, BFD 200 ms × 3 " +
			"with each), the fault on each node in turn; *-cluster and *-local: the Service's " +
			"externalTrafficPolicy, with a hello Pod on every node. The client requests the address every " +
			"15 ms, a fresh TCP connection each with a 200 ms timeout. gap: the longest time between two " +
			"answers from the fault until 3 s without a failure; failed: the requests that failed " +
			"meanwhile; after-1s: those of them sent more than 1 s after the fault; last-failure: the " +
			"latest of them, over all trials; takeover: the fault until the client's ARP entry or the " +
			"router's route no longer names the node. Target (issue 15): longest gap p99 ≤ 1 s and no " +
			"failed request after the first second. The same faults with kube-proxy or with the " +
			"exclusion off are the comparisons of the lab-failover section's notes " +
			"(FRONTDESK_FAILOVER_PROXY=kube-proxy, FRONTDESK_FAILOVER_EXCLUSION=off).",
		bench: "^BenchmarkLabFailover$",
		env:   []string{"FRONTDESK_FAILOVER_SCENARIOS=l2-cluster:linkcut+freeze+poweroff,bgp-cluster:linkcut+freeze+poweroff,l2-local:linkcut,bgp-local:linkcut"},
	}, "150m"),
	e2eSuite("./test/proxybench/", suite{
		name:  "proxybench",
		title: "Node proxy beside kube-proxy, timed in the kernel (test/proxybench)",
		about: "frontdesk-proxy and kube-proxy v1.37.2 --proxy-mode=nftables, each in its own node " +
			"namespace against one real API server, measured in the same run, both with their default " +
			"--min-sync-period (1 s). Rules are timed arriving in each kernel by `nft monitor` inside the " +
			"namespace, not from the proxies' logs. first-packet: TCP connect from the node to the " +
			"ClusterIP of a random Service (vip) or straight to one of its endpoints (direct), 2000 times " +
			"per case, interleaved, at 1k and 10k Services (target: flat, ≤ 10% growth; the two scales are " +
			"minutes apart on a loaded machine, so vip/direct, the VIP's cost against a direct connection " +
			"timed at the same moments, is the steadier measure of growth). one-change: with 10k Services " +
			"present, 300 Services get their EndpointSlice one at a time, 1.5 s apart, in blocks of 10 timed on one " +
			"proxy while the other is stopped (SIGSTOP) and then catches up, 150 per proxy: from the create " +
			"returning to the ClusterIP in service-ips (target p99 ≤ 100 ms and ≤ 0.5× kube-proxy; anchor " +
			"≈141 ms). cold-start: tables deleted, the proxy started with 10k Services × 2 endpoints in the " +
			"API server, until all 10k ClusterIPs are in the kernel (programmed) and /healthz answers 200 " +
			"(target ≤ 10 s; anchor 3 min 14 s), the ClusterIPs in the kernel when /healthz first said 200, " +
			"and the proxy's RSS then. own-mean-sync-ms and syncs are " +
			"the proxies' own sync-duration histograms over the one-change window (catch-up syncs " +
			"included), to tell the sync from the rest (API server, watch, waiting for a sync). The machine " +
			"is shared and loaded by other work; both proxies share that load in the same run. See test/proxybench/README.md.",
		bench: "BenchmarkNodeProxies",
	}, "60m"),
	{
		name:  "proxy-scale",
		title: "Node proxy at 44k Services, in the kernel (proxy)",
		about: "The node proxy alone, programming the real kernel in a node namespace, with 44k " +
			"Services × 2 endpoints fed straight into its store (no API server): the cold start " +
			"(transactions of 1000 Services), one Service's endpoints changed at a time with all 44k " +
			"present, 100 times, timed from the sync's start until nft returns (target ≤ 500 ms; anchor: " +
			"kube-proxy's incremental sync at 44k took 1.33 s after its fixes, k8s #139513), and a full " +
			"resync of the serving table in one transaction (anchor: kube-proxy's full sync took 16 min " +
			"44 s). Most of one change's time is the nft binary reading the names of every chain " +
			"before it runs a transaction.",
		pkg:       "./proxy/",
		bench:     "BenchmarkKernelScale",
		tags:      "netns",
		count:     1,
		root:      true,
		quantiles: true,
		extra:     []string{"-benchtime=1x", "-timeout=30m"},
	},
	{
		name:  "liveness-cost",
		title: "Speaker: cost of heartbeats",
		about: "Checking one received heartbeat (HMAC-SHA256 and replay checks) and signing one round " +
			"of heartbeats to 10, 100 and 1000 peers.",
		pkg:   "./speaker/liveness/",
		bench: "Handle|BuildRound",
		count: 5,
	},
	{
		name:  "announce",
		title: "Speaker: which addresses this node announces",
		about: "The speaker's pure decision step from Kubernetes objects to the addresses this node " +
			"announces: 10k Services (≈10.1k VIPs, a quarter externalTrafficPolicy Local, some shared, " +
			"some dual-stack), 100 nodes, 20k EndpointSlices, two L2 rules.",
		pkg:   "./speaker/l2/announce/",
		bench: ".",
		count: 5,
	},
	{
		name:  "aws",
		title: "AWS provider: API calls and a 200-Service burst",
		about: "AWS requests per Service, counted by the wire-level fake AWS (test/fakeaws) that the real SDK " +
			"talks to: a create, an unchanged resync (target: zero mutating calls) and a delete, for an NLB " +
			"with one and two ports and a classic load balancer with two, 3 nodes. Then 200 one-port NLB " +
			"Services created by 10 concurrent reconciles against a fake that enforces AWS's request rates " +
			"(ELBv2 and ELB: 40 burst, 10/s; EC2: 100 burst, 20/s) in real time, with the default client-side " +
			"limits (target: zero throttled requests). AWS's own provisioning time (90–180 s for an NLB's " +
			"targets) is not part of any figure.",
		pkg:   "./providers/aws/",
		bench: "BenchmarkAWSCalls|BenchmarkBurst200",
		count: 1,
		extra: []string{"-benchtime=1x", "-timeout=20m"},
	},
	{
		name:  "bgp",
		title: "Speaker: BGP announcement (GoBGP v4.8.0 embedded)",
		about: "One speaker in a node namespace, gobgpd (the same GoBGP module) in a router namespace, " +
			"timed from the router's own best-path stream (gobgp monitor global rib). With 1000 routes " +
			"advertised, one route added to / removed from the full set, 50 times: SetRoutes to the router's " +
			"change (targets: announce p99 ≤ 1 s end to end, planned withdraw ≤ 200 ms); 10k routes in one " +
			"set until the router holds them all (target ≤ 5 s) and their withdrawal on SIGTERM; failure " +
			"detection of a node cut off the network, BFD 300 ms × 3, 5 trials (target ≤ 1 s). The Service → " +
			"SetRoutes part (the agent loop, informers and MinInterval 50 ms) is not included.",
		pkg:   "./speaker/bgp/",
		bench: ".",
		tags:  "netns",
		count: 1,
		root:  true,
		extra: []string{"-benchtime=1x", "-timeout=20m"},
	},
	{
		name:  "bgp-e2e",
		title: "Speaker: Service address to route at the router, end to end",
		about: "The BGP loop of frontdesk-speaker (informers, routes.Compute, the embedded GoBGP, status " +
			"writes) as a process in a node namespace, talking to a real API server, peering with gobgpd in " +
			"a router namespace. 100 Services one after another: IPAllocation created, then the ingress " +
			"address written (what the controller does); timed from that write to the route in gobgpd's " +
			"best-path stream (target p99 ≤ 1 s; the controller's own Service → ingress p99 is in its " +
			"section). Then SIGTERM until all 100 routes are withdrawn at the router.",
		pkg:     "./speaker/agent/",
		bench:   "BenchmarkBGPEndToEnd",
		tags:    "netns,integration",
		count:   1,
		root:    true,
		k8sBins: true,
		extra:   []string{"-benchtime=1x", "-timeout=20m"},
	},
}

// e2eSuite fills in what every end-to-end benchmark of pkg shares (test/e2e/lab, test/e2e/speakers,
// test/proxybench): the netns and integration tiers (root, the control-plane binaries), one run of
// one iteration (an environment per run), quantile rows, and the run's timeout.
func e2eSuite(pkg string, s suite, timeout string) suite {
	s.pkg, s.tags, s.count, s.root, s.k8sBins, s.quantiles = pkg, "netns,integration", 1, true, true, true
	s.extra = []string{"-benchtime=1x", "-timeout=" + timeout}
	return s
}

// labSuite is an e2eSuite of test/e2e/lab.
func labSuite(s suite, timeout string) suite { return e2eSuite("./test/e2e/lab/", s, timeout) }
