//go:build netns

package netnstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two namespaces on a bridge reach each other; a loopback HTTP server of the test process is
// reachable from inside one of them at its own address; everything is gone after the test.
func TestNetworkAndForwarding(t *testing.T) {
	RequireRoot(t, "ping")
	id := RunID(t)
	var names []string
	t.Run("build", func(t *testing.T) {
		br := NewBridge(t, id, "br")
		a, b := New(t, id, "a"), New(t, id, "b")
		names = []string{br.NS().Name, a.Name, b.Name}
		br.Attach(a, "eth0", "02:fd:00:00:01:01", netip.MustParsePrefix("198.18.250.1/24"))
		br.Attach(b, "eth0", "", netip.MustParsePrefix("198.18.250.2/24"), netip.MustParsePrefix("fd00:fd::2/64"))
		if got := a.MAC("eth0"); got != "02:fd:00:00:01:01" {
			t.Errorf("MAC = %q, want 02:fd:00:00:01:01", got)
		}
		b.Exec("ping", "-c", "1", "-W", "2", "198.18.250.1")
		if got := b.Neigh("eth0", netip.MustParseAddr("198.18.250.1")); got != "02:fd:00:00:01:01" {
			t.Errorf("b's neighbour entry for a = %q, want a's MAC", got)
		}

		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "host loopback")
		}), ReadHeaderTimeout: time.Second}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
		ForwardLoopback(t, a, l.Addr().String())
		// Through a process inside the namespace, as a speaker would connect.
		out := a.Exec("curl", "-sS", "--max-time", "5", "http://"+l.Addr().String()+"/")
		if out != "host loopback" {
			t.Errorf("curl inside %s got %q", a.Name, out)
		}
		// And through a socket the test opens inside it.
		c, err := a.Dial(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		body, _ := io.ReadAll(c)
		_ = c.Close()
		if !strings.HasSuffix(string(body), "host loopback") {
			t.Errorf("dial inside %s got %q", a.Name, body)
		}
		// The other namespace has no forwarder: its loopback has nothing on that port.
		if err := exec.Command("ip", "netns", "exec", b.Name, "curl", "-sS", "--max-time", "2", "http://"+l.Addr().String()+"/").Run(); err == nil {
			t.Errorf("%s reached the test's loopback without a forwarder", b.Name)
		}
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s left behind", n)
		}
	}
}

// Do called from several goroutines at once runs every call inside the namespace, each on a
// thread that goes back to the test's namespace afterwards; a subtest's view (For) reaches the
// same namespace.
func TestDoFromManyGoroutines(t *testing.T) {
	RequireRoot(t)
	id := RunID(t)
	a, b := New(t, id, "a"), New(t, id, "b")
	Veth(a, "x0", b, "x1") // x0 exists in a only
	inNS := func() error {
		_, err := net.InterfaceByName("x0")
		return err
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			<-start
			for range 20 {
				if err := a.Do(inNS); err != nil {
					t.Errorf("Do: %v", err)
					return
				}
				// The same goroutine, likely the same thread, is back outside.
				if inNS() == nil {
					t.Error("after Do returned, its goroutine still sees the namespace's x0")
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Run("view", func(t *testing.T) {
		v := a.For(t)
		if got := v.MAC("x0"); got != a.MAC("x0") {
			t.Errorf("the view sees x0 with MAC %q, the namespace %q", got, a.MAC("x0"))
		}
		if err := v.Do(inNS); err != nil {
			t.Errorf("Do through the view: %v", err)
		}
	})
}
