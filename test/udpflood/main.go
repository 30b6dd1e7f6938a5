//go:build linux

// Command udpflood sends one UDP payload to a set of destinations as fast as it can, from several
// source addresses on several OS threads at once, each system call a batch of datagrams
// (sendmmsg), and prints how many went out. It is the hostile Pod of test/e2e/speakers'
// TestHeartbeatFlood (issue 17, item 6). It is a process of its own, not goroutines of the test,
// so that its threads take CPU from the speaker that reads the flood as a Pod's would, and not
// from the test's ARP watch inside one Go scheduler.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

func main() {
	payload := flag.String("payload", "", "file holding the datagram to send (required)")
	from := flag.String("from", "", "comma-separated IPv4 source addresses, one socket on each per thread (required)")
	to := flag.String("to", "", "comma-separated IPv4 address:port destinations, taken in turn (required)")
	threads := flag.Int("threads", 4*runtime.NumCPU(), "sending OS threads")
	batch := flag.Int("batch", 64, "datagrams per system call (sendmmsg)")
	d := flag.Duration("for", 30*time.Second, "how long to send")
	flag.Parse()
	n, err := run(*payload, *from, *to, *threads, *batch, *d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "udpflood:", err)
		os.Exit(1)
	}
	fmt.Println("sent", n)
}

func run(payloadFile, from, to string, threads, batch int, d time.Duration) (uint64, error) {
	b, err := os.ReadFile(payloadFile)
	if err != nil {
		return 0, err
	}
	srcs, err := parseList(from, netip.ParseAddr)
	if err != nil {
		return 0, fmt.Errorf("-from: %w", err)
	}
	dsts, err := parseList(to, netip.ParseAddrPort)
	if err != nil {
		return 0, fmt.Errorf("-to: %w", err)
	}
	if threads < 1 || batch < 1 || len(b) == 0 {
		return 0, errors.New("-threads, -batch and the payload must not be empty")
	}
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{b}, Addr: net.UDPAddrFromAddrPort(dsts[i%len(dsts)])}
	}
	// One P per thread: each sender holds its thread (LockOSThread), and all of them are runnable
	// at once, as a Pod's threads would be.
	runtime.GOMAXPROCS(threads + 1)
	conns := make([]*ipv4.PacketConn, threads)
	for i := range conns {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(srcs[i%len(srcs)], 0)))
		if err != nil {
			return 0, err
		}
		defer func() { _ = c.Close() }()
		conns[i] = ipv4.NewPacketConn(c)
	}
	var sent atomic.Uint64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, pc := range conns {
		wg.Go(func() {
			runtime.LockOSThread()
			ms := append([]ipv4.Message(nil), msgs...)
			var n uint64
			for time.Now().Before(stop) {
				// An error (ENOBUFS, say) loses that batch only; the flood goes on.
				if k, err := pc.WriteBatch(ms, 0); k > 0 {
					n += uint64(k)
				} else if err != nil {
					time.Sleep(time.Millisecond)
				}
			}
			sent.Add(n)
		})
	}
	wg.Wait()
	return sent.Load(), nil
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for f := range strings.SplitSeq(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}
