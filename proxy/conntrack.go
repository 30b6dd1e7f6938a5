package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// FlowFilter selects conntrack entries to delete. Zero fields match anything.
type FlowFilter struct {
	Protocol string     // "udp" (also when empty), "tcp" or "sctp"
	Dst      netip.Addr // original destination (the Service address)
	DstPort  uint16     // original destination port
	ReplySrc netip.Addr // reply source: the endpoint the flow was DNATed to
	IPv6     bool       // the family, when neither address is set
}

func (f FlowFilter) String() string { return strings.Join(f.args(), " ") }

func (f FlowFilter) args() []string {
	proto := f.Protocol
	if proto == "" {
		proto = "udp"
	}
	args := []string{"-D", "-p", proto}
	if f.IPv6 || f.Dst.Is6() || f.ReplySrc.Is6() {
		args = append(args, "-f", "ipv6")
	}
	if f.Dst.IsValid() {
		args = append(args, "--orig-dst", f.Dst.String())
	}
	if f.DstPort != 0 {
		args = append(args, "--orig-port-dst", fmt.Sprint(f.DstPort))
	}
	if f.ReplySrc.IsValid() {
		args = append(args, "--reply-src", f.ReplySrc.String())
	}
	return args
}

// Conntrack deletes conntrack entries. It is the proxy's only conntrack seam. An error that is
// (or wraps) a *FlowErrors says which filters failed, so that only those are tried again; any
// other error has all of them tried again.
type Conntrack interface {
	Delete(ctx context.Context, filters []FlowFilter) error
}

// FlowErrors lists the filters a Delete did not apply (failed, or not reached before its
// context ended); the others were applied.
type FlowErrors struct {
	Failed []FlowFilter
	Err    error
}

func (e *FlowErrors) Error() string { return e.Err.Error() }
func (e *FlowErrors) Unwrap() error { return e.Err }

// ExecConntrack runs the conntrack binary (Debian's conntrack package). Prefix runs it through
// another command, such as `ip netns exec NAME` in tests.
type ExecConntrack struct {
	Prefix []string
}

// Delete runs one conntrack -D per filter and returns every failure as a *FlowErrors; once ctx
// ends, the filters not run yet count as failed.
func (c ExecConntrack) Delete(ctx context.Context, filters []FlowFilter) error {
	var errs []error
	var failed []FlowFilter
	for i, f := range filters {
		if err := ctx.Err(); err != nil {
			failed = append(failed, filters[i:]...)
			errs = append(errs, fmt.Errorf("%d conntrack deletions not run: %w", len(filters)-i, err))
			break
		}
		argv := append(append(append([]string{}, c.Prefix...), "conntrack"), f.args()...)
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		// conntrack exits 1 when nothing matched; that is success here.
		if err != nil && !strings.Contains(string(out), "0 flow entries have been deleted") {
			errs = append(errs, fmt.Errorf("conntrack %s: %w: %s", f, err, strings.TrimSpace(string(out))))
			failed = append(failed, f)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &FlowErrors{Failed: failed, Err: errors.Join(errs...)}
}
