package liveness

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KernelBootIDFile is where Linux publishes the boot ID: a random UUID drawn at every boot, the
// same in every namespace and container of that boot.
const KernelBootIDFile = "/proc/sys/kernel/random/boot_id"

// BootID identifies one boot of a node: a heartbeat carries it (wire version 3) so that peers
// tell a speaker that restarted on a running node (same boot ID) from a node that rebooted (a
// new one), whose Pods, and the connections to them, are gone. The zero value is unknown: a
// speaker that could not read it, or of an older release.
type BootID [16]byte

// IsZero reports whether the boot ID is unknown.
func (b BootID) IsZero() bool { return b == BootID{} }

// String formats the boot ID as the kernel does (8-4-4-4-12 lowercase hex), "" if unknown.
func (b BootID) String() string {
	if b.IsZero() {
		return ""
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ParseBootID reads a boot ID in the kernel's form (a UUID, 8-4-4-4-12 hex digits), with
// surrounding white space. All zeros is refused: it is what unknown means on the wire.
func ParseBootID(s string) (BootID, error) {
	s = strings.TrimSpace(s)
	var b BootID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, fmt.Errorf("boot ID %q: want a UUID such as 0f6d2c1e-3b4a-4c5d-8e9f-a0b1c2d3e4f5", s)
	}
	if _, err := hex.Decode(b[:], []byte(strings.ReplaceAll(s, "-", ""))); err != nil {
		return BootID{}, fmt.Errorf("boot ID %q: want a UUID: %w", s, err)
	}
	if b.IsZero() {
		return b, errors.New("boot ID is all zeros: want the node's boot ID")
	}
	return b, nil
}

// BootIDSource gives this node's boot ID. It is the seam between the speaker and the kernel (or
// whatever stands for it: the lab, whose nodes are network namespaces of one kernel, gives each
// node a file of its own), so tests can fake a reboot.
type BootIDSource interface {
	BootID() (BootID, error)
}

// BootIDFile reads the boot ID from a file: KernelBootIDFile, or an override in the same form.
type BootIDFile string

// BootID reads and parses the file.
func (f BootIDFile) BootID() (BootID, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return BootID{}, fmt.Errorf("reading the boot ID: %w", err)
	}
	id, err := ParseBootID(string(b))
	if err != nil {
		return BootID{}, fmt.Errorf("%s: %w", f, err)
	}
	return id, nil
}
