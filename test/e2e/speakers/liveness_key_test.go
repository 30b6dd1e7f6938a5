//go:build netns && integration

package speakers

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// TestLivenessKeyRotation (issue 17, item 7): three running speakers go through the rotation of
// docs/chart.md, each node's key files rewritten the way the kubelet updates a mounted Secret
// (a new directory, the ..data symlink swapped), the nodes one after another. Each step is
// awaited as the docs tell an operator to: until every speaker's frontdesk_liveness_key_info
// shows it. Meanwhile no address moves and never has two answerers.
func TestLivenessKeyRotation(t *testing.T) {
	oldKey, newKey := "frontdesk-e2e-old-liveness-key-0123", "frontdesk-e2e-new-liveness-key-4567"
	dirs := make([]*testkit.KubeletSecret, nodeCount)
	for i := range dirs {
		dirs[i] = testkit.NewKubeletSecret(t, map[string]string{"key": oldKey})
	}
	e := newEnvWith(t, func(i int) []string {
		return []string{"--liveness-key-file=" + dirs[i].Path("key"),
			"--liveness-accept-key-file=" + dirs[i].Path("accept")}
	})
	ctx := context.Background()
	vips := []netip.Addr{netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101"), netip.MustParseAddr("198.18.0.102")}
	for i, v := range vips {
		e.createService(ctx, fmt.Sprintf("rotate-%d", i), v)
	}
	e.waitKeys(liveness.KeyID([]byte(oldKey)), "")
	owners := map[netip.Addr]string{}
	for _, v := range vips {
		owners[v] = e.announcersOf(ctx, v)
	}
	w := e.watchARP(vips...)

	for _, step := range []struct{ key, accept string }{
		{oldKey, newKey}, // 1: every speaker accepts the new key
		{newKey, oldKey}, // 2: every speaker signs with it
		{newKey, ""},     // 3: the old key is dropped
	} {
		data := map[string]string{"key": step.key}
		if step.accept != "" {
			data["accept"] = step.accept
		}
		for _, d := range dirs {
			d.Write(data)
			time.Sleep(time.Second) // the kubelets of different nodes do not update at once
		}
		accept := ""
		if step.accept != "" {
			accept = liveness.KeyID([]byte(step.accept))
		}
		e.waitKeys(liveness.KeyID([]byte(step.key)), accept)
		t.Logf("every speaker signs with %s and accepts %q", liveness.KeyID([]byte(step.key)), accept)
	}
	time.Sleep(2 * time.Second) // more than a liveness timeout after the last step
	w.check(t)
	for _, v := range vips {
		if got := e.announcers(ctx, v); !slices.Equal(got, []string{owners[v]}) {
			t.Errorf("after the rotation IPAllocation status names %v as announcers of %v, want [%s]", got, v, owners[v])
		}
	}
}

// waitKeys waits until every speaker's metrics show it signing with the key of ID sign and
// accepting the one of ID accept (none if empty), and nothing else.
func (e *env) waitKeys(sign, accept string) {
	e.t.Helper()
	want := []string{fmt.Sprintf(`frontdesk_liveness_key_info{id=%q,use="sign"} 1`, sign)}
	if accept != "" {
		want = append(want, fmt.Sprintf(`frontdesk_liveness_key_info{id=%q,use="accept"} 1`, accept))
	}
	slices.Sort(want)
	deadline := time.Now().Add(30 * time.Second) // five polls of the files, and then some
	for i := range e.nodes {
		var got []string
		for {
			out, _ := e.nodes[i].Command("curl", "-s", "--max-time", "2", "http://127.0.0.1:7472/metrics").Output()
			got = got[:0]
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "frontdesk_liveness_key_info{") {
					got = append(got, l)
				}
			}
			slices.Sort(got)
			if slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("%s shows keys %q, want %q", nodeName(i), got, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
