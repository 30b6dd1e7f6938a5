package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// Every error the package returns, produced by a real call, matches exactly the sentinels and types
// it should with errors.Is and errors.As.
func TestErrorTypes(t *testing.T) {
	ips := func() *IPAllocator {
		a, err := NewIPAllocator(testPools())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ports := func() *PortAllocator {
		a, err := NewPortAllocator(PortRange{30000, 30001})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name string
		err  func() error
		want string // the one kind expected; see kinds
	}{
		{"full pool", func() error {
			a := ips()
			if _, err := a.Assign(v4("x", "tiny")); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err := a.Assign(v4("y", "tiny"))
			return err
		}, "ErrFull"},
		{"full port range", func() error {
			a := ports()
			for range 2 {
				if _, err := a.AllocateNext("x", TCP); err != nil {
					return fmt.Errorf("setup: %w", err)
				}
			}
			_, err := a.AllocateNext("x", TCP)
			return err
		}, "ErrFull"},
		{"address conflict", func() error {
			a := ips()
			if _, err := a.Assign(want(v4("x", "blue"), "192.0.2.9")); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err := a.Assign(want(v4("y", "blue"), "192.0.2.9"))
			return err
		}, "*ErrConflict"},
		{"restore conflict", func() error {
			a := ips()
			if err := a.Restore("x", addrs("203.0.113.1"), Sharing{}); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return a.Restore("y", addrs("203.0.113.1"), Sharing{})
		}, "*ErrConflict"},
		{"port conflict", func() error {
			a := ports()
			if err := a.Allocate("x", TCP, 30000); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return a.Allocate("y", TCP, 30000)
		}, "*ErrPortConflict"},
		{"address not in range", func() error {
			_, err := ips().Assign(want(v4("x", "blue"), "203.0.113.1"))
			return err
		}, "*ErrNotInRange"},
		{"port not in range", func() error { return ports().Allocate("x", TCP, 80) }, "*ErrNotInRange"},
		{"unknown pool", func() error {
			_, err := ips().Assign(v4("x", "nope"))
			return err
		}, "*ErrUnknownPool"},
		{"invalid request", func() error {
			_, err := ips().Assign(v4("", "blue"))
			return err
		}, "*ErrInvalidRequest"},
		{"invalid pool", func() error {
			_, err := NewIPAllocator([]Pool{{Name: "e"}})
			return err
		}, "*ErrInvalidPool"},
		{"overlap", func() error {
			_, err := NewIPAllocator([]Pool{
				{Name: "a", CIDRs: []netip.Prefix{prefix("192.0.2.0/24")}},
				{Name: "b", CIDRs: []netip.Prefix{prefix("192.0.2.128/25")}},
			})
			return err
		}, "*ErrPoolOverlap"},
		{"invalid port range", func() error {
			_, err := ParsePortRange("9-1")
			return err
		}, "*ErrInvalidPortRange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil {
				t.Fatal("no error")
			}
			for kind, matches := range kinds {
				wantMatch := kind == tt.want || (kind == "ErrAllocated" && (tt.want == "*ErrConflict" || tt.want == "*ErrPortConflict"))
				if got := matches(err); got != wantMatch {
					t.Errorf("%v: matches %s = %v, want %v", err, kind, got, wantMatch)
				}
			}
		})
	}
}

var kinds = map[string]func(error) bool{
	"ErrFull":              func(err error) bool { return errors.Is(err, ErrFull) },
	"ErrAllocated":         func(err error) bool { return errors.Is(err, ErrAllocated) },
	"*ErrConflict":         func(err error) bool { var e *ErrConflict; return errors.As(err, &e) },
	"*ErrPortConflict":     func(err error) bool { var e *ErrPortConflict; return errors.As(err, &e) },
	"*ErrNotInRange":       func(err error) bool { var e *ErrNotInRange; return errors.As(err, &e) },
	"*ErrUnknownPool":      func(err error) bool { var e *ErrUnknownPool; return errors.As(err, &e) },
	"*ErrInvalidRequest":   func(err error) bool { var e *ErrInvalidRequest; return errors.As(err, &e) },
	"*ErrInvalidPool":      func(err error) bool { var e *ErrInvalidPool; return errors.As(err, &e) },
	"*ErrPoolOverlap":      func(err error) bool { var e *ErrPoolOverlap; return errors.As(err, &e) },
	"*ErrInvalidPortRange": func(err error) bool { var e *ErrInvalidPortRange; return errors.As(err, &e) },
}

// Wrapping by a caller keeps the kinds.
func TestErrorsSurviveWrapping(t *testing.T) {
	err := fmt.Errorf("ensuring ns/svc: %w", &ErrConflict{Addr: addr("192.0.2.1"), Owner: "ns/svc", Holder: "ns/other", Reason: "r"})
	var c *ErrConflict
	if !errors.As(err, &c) || c.Holder != "ns/other" || !errors.Is(err, ErrAllocated) {
		t.Errorf("wrapped conflict lost its kind: %v", err)
	}
}
