package allocator

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStaticBandSize(t *testing.T) {
	tests := []struct {
		size, want int
	}{
		{1, 0}, {16, 0}, {17, 16}, {512, 16}, {544, 17}, {2768, 86}, {4096, 128}, {65535, 128},
	}
	for _, tt := range tests {
		if got := StaticBandSize(tt.size); got != tt.want {
			t.Errorf("StaticBandSize(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr string
	}{
		{in: "30000-32767", want: PortRange{30000, 32767}},
		{in: " 100 - 200 ", want: PortRange{100, 200}},
		{in: "8080", want: PortRange{8080, 8080}},
		{in: "0-10", wantErr: `invalid port range "0-10": port 0 is not a port; want FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 30000-32767`},
		{in: "200-100", wantErr: `invalid port range "200-100": it ends before it starts; want FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 30000-32767`},
		{in: "1-70000", wantErr: `invalid port range "1-70000": not two port numbers; want FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 30000-32767`},
		{in: "a-b", wantErr: `invalid port range "a-b": not two port numbers; want FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 30000-32767`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortRange(tt.in)
			if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			var inv *ErrInvalidPortRange
			if err != nil && !errors.As(err, &inv) {
				t.Errorf("error %v is not an *ErrInvalidPortRange", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("range (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := NewPortAllocator(PortRange{5, 4}); err == nil {
		t.Error("NewPortAllocator accepted 5-4")
	}
}

// Dynamic picks fill the upper band first, in random order, then the static band, then fail.
func TestAllocateNextBands(t *testing.T) {
	a, err := NewPortAllocator(DefaultNodePortRange)
	if err != nil {
		t.Fatal(err)
	}
	const static = 30000 + 86
	var upper, lower []uint16
	for range 2768 - 86 {
		p, err := a.AllocateNext("ns/a", TCP)
		if err != nil {
			t.Fatal(err)
		}
		upper = append(upper, p)
	}
	for range 86 {
		p, err := a.AllocateNext("ns/a", TCP)
		if err != nil {
			t.Fatal(err)
		}
		lower = append(lower, p)
	}
	if slices.IsSorted(upper[:100]) {
		t.Error("the first 100 dynamic picks are in order: picks are not random")
	}
	slices.Sort(upper)
	slices.Sort(lower)
	if upper[0] != static || upper[len(upper)-1] != 32767 || len(slices.Compact(upper)) != 2768-86 {
		t.Errorf("dynamic band picks span %d-%d", upper[0], upper[len(upper)-1])
	}
	if lower[0] != 30000 || lower[len(lower)-1] != static-1 || len(slices.Compact(lower)) != 86 {
		t.Errorf("static band picks span %d-%d", lower[0], lower[len(lower)-1])
	}
	_, err = a.AllocateNext("ns/a", TCP)
	if !errors.Is(err, ErrFull) || err.Error() != "no free address or port left: all 2768 ports of NodePort range 30000-32767 are in use" {
		t.Errorf("got %v, want ErrFull", err)
	}
	if err := a.checkInvariants(); err != nil {
		t.Error(err)
	}
}

func TestPortOwnership(t *testing.T) {
	type op struct {
		do      string // allocate, restore, release
		owner   string
		proto   Protocol
		port    uint16
		wantErr string
	}
	tests := []struct {
		name    string
		ops     []op
		port    uint16
		wantOwn string
		want    []Protocol
	}{
		{
			name:    "requested port in the static band",
			ops:     []op{{do: "allocate", owner: "ns/a", proto: TCP, port: 30005}},
			port:    30005,
			wantOwn: "ns/a", want: []Protocol{TCP},
		},
		{
			name: "one owner, TCP and UDP on one port",
			ops: []op{
				{do: "allocate", owner: "ns/a", proto: UDP, port: 31000},
				{do: "allocate", owner: "ns/a", proto: TCP, port: 31000},
				{do: "allocate", owner: "ns/a", proto: TCP, port: 31000},
			},
			port:    31000,
			wantOwn: "ns/a", want: []Protocol{TCP, UDP},
		},
		{
			name: "another owner, even another protocol, is refused",
			ops: []op{
				{do: "allocate", owner: "ns/a", proto: TCP, port: 31000},
				{do: "allocate", owner: "ns/b", proto: UDP, port: 31000,
					wantErr: `port 31000 is held by "ns/a" and cannot also be given to "ns/b" (a NodePort belongs to one owner, which may use it for several protocols)`},
				{do: "restore", owner: "ns/b", proto: TCP, port: 31000,
					wantErr: `port 31000 is held by "ns/a" and cannot also be given to "ns/b" (a NodePort belongs to one owner, which may use it for several protocols)`},
			},
			port:    31000,
			wantOwn: "ns/a", want: []Protocol{TCP},
		},
		{
			name: "out of range",
			ops: []op{{do: "allocate", owner: "ns/a", proto: TCP, port: 8080,
				wantErr: "port 8080 is not in the NodePort range 30000-32767"}},
			port: 8080,
		},
		{
			name: "restore outside the range is kept",
			ops: []op{
				{do: "restore", owner: "ns/a", proto: TCP, port: 8080},
				{do: "restore", owner: "ns/a", proto: SCTP, port: 8080},
				{do: "restore", owner: "ns/b", proto: TCP, port: 8080,
					wantErr: `port 8080 is held by "ns/a" and cannot also be given to "ns/b" (a NodePort belongs to one owner, which may use it for several protocols)`},
			},
			port:    8080,
			wantOwn: "ns/a", want: []Protocol{TCP, SCTP},
		},
		{
			name: "release one protocol keeps the port",
			ops: []op{
				{do: "allocate", owner: "ns/a", proto: TCP, port: 31000},
				{do: "allocate", owner: "ns/a", proto: UDP, port: 31000},
				{do: "release", owner: "ns/a", proto: TCP, port: 31000},
				{do: "release", owner: "ns/b", proto: UDP, port: 31000},
			},
			port:    31000,
			wantOwn: "ns/a", want: []Protocol{UDP},
		},
		{
			name: "release the last protocol frees the port",
			ops: []op{
				{do: "allocate", owner: "ns/a", proto: TCP, port: 31000},
				{do: "release", owner: "ns/a", proto: TCP, port: 31000},
				{do: "allocate", owner: "ns/b", proto: TCP, port: 31000},
			},
			port:    31000,
			wantOwn: "ns/b", want: []Protocol{TCP},
		},
		{
			name: "invalid requests",
			ops: []op{
				{do: "allocate", owner: "", proto: TCP, port: 31000,
					wantErr: `invalid request for "": the owner is empty; name it, e.g. namespace/name`},
				{do: "allocate", owner: "ns/a", proto: "ICMP", port: 31000,
					wantErr: `invalid request for "ns/a": protocol "ICMP"; want TCP, UDP or SCTP`},
				{do: "restore", owner: "ns/a", proto: TCP, port: 0,
					wantErr: `invalid request for "ns/a": port 0 is not a port`},
			},
			port: 31000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewPortAllocator(DefaultNodePortRange)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range tt.ops {
				var err error
				switch o.do {
				case "allocate":
					err = a.Allocate(o.owner, o.proto, o.port)
				case "restore":
					err = a.Restore(o.owner, o.proto, o.port)
				case "release":
					a.Release(o.owner, o.proto, o.port)
				}
				if diff := cmp.Diff(o.wantErr, errString(err)); diff != "" {
					t.Errorf("op %d %+v: error (-want +got):\n%s", i, o, diff)
				}
			}
			owner, protos, _ := a.Holder(tt.port)
			if owner != tt.wantOwn {
				t.Errorf("port %d held by %q, want %q", tt.port, owner, tt.wantOwn)
			}
			if diff := cmp.Diff(tt.want, protos); diff != "" {
				t.Errorf("protocols (-want +got):\n%s", diff)
			}
			if err := a.checkInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestPortStatsAndReleaseOwner(t *testing.T) {
	a, err := NewPortAllocator(DefaultNodePortRange)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []uint16{30000, 30001, 31000} {
		if err := a.Allocate("ns/a", TCP, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Restore("ns/a", UDP, 8080); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AllocateNext("ns/b", UDP); err != nil {
		t.Fatal(err)
	}
	want := PortStats{Range: DefaultNodePortRange, Size: 2768, StaticBand: 86, Used: 4, Free: 2764, StaticUsed: 2, OutOfRange: 1}
	if diff := cmp.Diff(want, a.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint16{8080, 30000, 30001, 31000}, a.Ports("ns/a")); diff != "" {
		t.Errorf("Ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint16{8080, 30000, 30001, 31000}, a.ReleaseOwner("ns/a")); diff != "" {
		t.Errorf("ReleaseOwner (-want +got):\n%s", diff)
	}
	want = PortStats{Range: DefaultNodePortRange, Size: 2768, StaticBand: 86, Used: 1, Free: 2767}
	if diff := cmp.Diff(want, a.Stats()); diff != "" {
		t.Errorf("Stats after ReleaseOwner (-want +got):\n%s", diff)
	}
	if err := a.checkInvariants(); err != nil {
		t.Error(err)
	}
}

// A range of 16 ports or fewer has no static band: dynamic picks use all of it.
func TestSmallPortRange(t *testing.T) {
	a, err := NewPortAllocator(PortRange{100, 103})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint16
	for range 4 {
		p, err := a.AllocateNext("ns/a", TCP)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]uint16{100, 101, 102, 103}, got); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if s := a.Stats(); s.StaticBand != 0 || s.Free != 0 {
		t.Errorf("Stats = %+v", s)
	}
}
