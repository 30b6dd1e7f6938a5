package liveness

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestParseBootID(t *testing.T) {
	const kernel = "0f6d2c1e-3b4a-4c5d-8e9f-a0b1c2d3e4f5\n" // as /proc/sys/kernel/random/boot_id reads
	b, err := ParseBootID(kernel)
	if err != nil || b != testBoot || b.String() != kernel[:36] {
		t.Errorf("ParseBootID(%q) = %v (%s), %v; want %v", kernel, b, b, err, testBoot)
	}
	for _, bad := range []string{"", "0f6d2c1e3b4a4c5d8e9fa0b1c2d3e4f5", "0f6d2c1e-3b4a-4c5d-8e9f-a0b1c2d3e4fz",
		"0f6d2c1e-3b4a-4c5d-8e9f-a0b1c2d3e4f5a", "00000000-0000-0000-0000-000000000000", "0f6d2c1e+3b4a-4c5d-8e9f-a0b1c2d3e4f5"} {
		if _, err := ParseBootID(bad); err == nil {
			t.Errorf("ParseBootID(%q) accepted", bad)
		}
	}
	if (BootID{}).String() != "" || !(BootID{}).IsZero() || testBoot.IsZero() {
		t.Error("the zero BootID must be unknown, printed empty")
	}
}

func TestBootIDFile(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "boot_id"), filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte(testBoot.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a uuid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var src BootIDSource = BootIDFile(good)
	if b, err := src.BootID(); err != nil || b != testBoot {
		t.Errorf("%s: %v, %v", good, b, err)
	}
	for _, f := range []string{bad, filepath.Join(dir, "missing")} {
		if b, err := BootIDFile(f).BootID(); err == nil {
			t.Errorf("%s: %v, want an error", f, b)
		}
	}
	// The kernel's own, where there is one: readable in any container, a valid UUID.
	if _, err := os.Stat(KernelBootIDFile); err == nil {
		if b, err := BootIDFile(KernelBootIDFile).BootID(); err != nil || b.IsZero() {
			t.Errorf("%s: %v, %v", KernelBootIDFile, b, err)
		}
	}
}

// TestRestartOrReboot: the View tells a speaker restart (a new incarnation, the same boot ID)
// from a node reboot (a new boot ID, with when it was first heard), however long either took;
// a node rebooted while it had left (SIGTERM on shutdown) is seen as rebooted too.
func TestRestartOrReboot(t *testing.T) {
	s := newSim(t, 3, nil)
	s.startAll()
	s.run(2 * time.Second)
	before := s.nodes["node-0"].m.View().Peers["node-2"]
	if before.BootID != s.boots["node-2"] || !before.RebootedAt.IsZero() {
		t.Fatalf("node-2 as first heard: %+v, want boot ID %v and no reboot", before, s.boots["node-2"])
	}

	s.crash("node-2")
	s.run(3 * time.Second) // dead to the others
	s.restart("node-2")    // the speaker alone: same boot
	s.run(time.Second)
	st := s.nodes["node-0"].m.View().Peers["node-2"]
	if !st.Alive || st.Incarnation == before.Incarnation || st.BootID != before.BootID || !st.RebootedAt.IsZero() {
		t.Errorf("after a speaker restart: %+v; want alive, a new incarnation, the same boot ID, no reboot", st)
	}

	s.crash("node-2")
	s.run(3 * time.Second)
	s.drainChanges("node-0")
	s.reboot("node-2")
	back := s.now()
	s.run(time.Second)
	st = s.nodes["node-0"].m.View().Peers["node-2"]
	if !st.Alive || st.BootID != s.boots["node-2"] || st.BootID == before.BootID ||
		st.RebootedAt.Before(back) || st.RebootedAt.After(back.Add(2*DefaultInterval)) {
		t.Errorf("after a reboot at %v: %+v; want alive, the new boot ID, rebooted within two intervals", back, st)
	}
	if !s.drainChanges("node-0") {
		t.Error("no Changes notification for the reboot")
	}

	s.leave("node-1")
	s.run(3 * time.Second)
	s.reboot("node-1")
	back = s.now()
	s.run(time.Second)
	if st := s.nodes["node-0"].m.View().Peers["node-1"]; !st.Alive || st.RebootedAt.Before(back) {
		t.Errorf("left, then back on a new boot: %+v, want rebooted after %v", st, back)
	}
}

// TestUnknownBootIsNotAReboot: a peer that sends no boot ID (unknown: unreadable, or an older
// release) neither erases the one heard before nor counts as a reboot when it sends one again.
func TestUnknownBootIsNotAReboot(t *testing.T) {
	s := newSim(t, 3, nil)
	s.startAll()
	s.run(2 * time.Second)
	known := s.boots["node-2"]
	s.boots["node-2"] = BootID{}
	s.restart("node-2")
	s.run(2 * time.Second)
	if st := s.nodes["node-0"].m.View().Peers["node-2"]; !st.Alive || st.BootID != known || !st.RebootedAt.IsZero() {
		t.Errorf("restarted without a boot ID: %+v, want the one heard before kept and no reboot", st)
	}
	s.boots["node-2"] = known
	s.restart("node-2")
	s.run(2 * time.Second)
	if st := s.nodes["node-0"].m.View().Peers["node-2"]; !st.RebootedAt.IsZero() {
		t.Errorf("back with the boot ID heard before: %+v, want no reboot", st)
	}
}

// TestVersionTwoInterop: a speaker of wire version 2 (the previous release, during a rolling
// upgrade) rejects version 3, so a new speaker answers it in version 2 once it has heard one:
// all see each other alive, the old one's dead list still counts, and it has no boot ID (its
// restarts are treated as before: unknown).
func TestVersionTwoInterop(t *testing.T) {
	s := newSim(t, 4, nil)
	s.boots["node-2"] = BootID{}
	s.create("node-2")
	s.playOldRelease("node-2", wireV2) // sends version 2 and refuses version 3, as parse did
	s.startAll()
	s.run(3 * time.Second)
	s.checkAllAlive(t, "in a mixed-version cluster")
	s.crash("node-3")
	s.run(2 * time.Second)
	v := s.nodes["node-0"].m.View()
	if got := v.Peers["node-2"].Reports; !slices.Equal(got, []string{"node-3"}) {
		t.Errorf("node-0: the version 2 speaker reports %v, want [node-3]", got)
	}
	if b := v.Peers["node-2"].BootID; !b.IsZero() {
		t.Errorf("node-0: the version 2 speaker's boot ID is %v, want unknown", b)
	}
	if b := v.Peers["node-1"].BootID; b != s.boots["node-1"] {
		t.Errorf("node-0: node-1's boot ID is %v, want %v (version 3 between new speakers)", b, s.boots["node-1"])
	}
	if got := s.nodes["node-2"].m.View().Peers["node-0"].Reports; !slices.Equal(got, []string{"node-3"}) {
		t.Errorf("node-2 (old): node-0 reports %v, want [node-3] (answered in version 2)", got)
	}
}
