package kubenode

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveRestoreSysctls(t *testing.T) {
	root := t.TempDir()
	old := procSys
	procSys = root
	t.Cleanup(func() { procSys = old })
	set := func(k, v string) {
		t.Helper()
		p := filepath.Join(root, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func(k string) string {
		b, _ := os.ReadFile(filepath.Join(root, k))
		return string(b)
	}
	for _, k := range KubeletSysctls {
		set(k, "0")
	}
	saved := filepath.Join(t.TempDir(), "sysctls.json")
	if err := SaveSysctls(saved); err != nil {
		t.Fatal(err)
	}
	// The kubelets set theirs; a second save (the supervisor restarted) must keep the first.
	set("kernel/panic", "10")
	set("vm/overcommit_memory", "1")
	if err := SaveSysctls(saved); err != nil {
		t.Fatal(err)
	}
	if err := RestoreSysctls(saved); err != nil {
		t.Fatal(err)
	}
	for _, k := range KubeletSysctls {
		if got := get(k); got != "0\n" {
			t.Errorf("%s = %q after restore, want 0", k, got)
		}
	}
	if err := RestoreSysctls(filepath.Join(t.TempDir(), "none.json")); err != nil {
		t.Errorf("restore without a saved file: %v", err)
	}
	// A file naming something else is not written through.
	if err := os.WriteFile(saved, []byte(`{"net/ipv4/conf/all/route_localnet": "1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RestoreSysctls(saved); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "net/ipv4/conf/all/route_localnet")); err == nil {
		t.Error("restore wrote a sysctl that is not a kubelet's")
	}
}
