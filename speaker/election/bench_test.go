package election

import (
	"fmt"
	"testing"
)

// BenchmarkElect elects 10k addresses over N nodes: one op is the whole batch, as a speaker does
// after a membership change (target: a few ms for 100 nodes). A tenth of the nodes are not
// eligible and a quarter of the addresses are Local with endpoints on 3 nodes, as in a real mix.
func BenchmarkElect(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("vips=10k/nodes=%d", n), func(b *testing.B) {
			ns := eligibleNodes(names("node", n))
			for i := 0; i < n; i += 10 {
				ns[i].Ineligible = NodeNotReady
			}
			addrs := consecutiveAddrs("10.0.0.0", 10000)
			anns := make([]Announcement, len(addrs))
			for i, a := range addrs {
				anns[i] = Announcement{Addr: a}
				if i%4 == 0 {
					anns[i].Policy = PolicyLocal
					anns[i].LocalNodes = []string{ns[i%n].Name, ns[(i+1)%n].Name, ns[(i+7)%n].Name}
				}
			}
			b.ReportAllocs()
			announced := 0
			for b.Loop() {
				e, err := New(Config{Self: "node-1", Nodes: ns})
				if err != nil {
					b.Fatal(err)
				}
				for _, a := range anns {
					if e.Elect(a).Announce() {
						announced++
					}
				}
			}
			if announced == 0 {
				b.Fatal("node-1 announced nothing")
			}
		})
	}
}
