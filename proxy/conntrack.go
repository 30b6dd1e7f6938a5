package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
)

// FlowFilter selects conntrack entries to delete. Zero fields match anything.
type FlowFilter struct {
	Protocol string     // "udp" (also when empty), "tcp" or "sctp"
	Dst      netip.Addr // original destination (the Service address)
	DstPort  uint16     // original destination port
	ReplySrc netip.Addr // reply source: the endpoint the flow was DNATed to
	// ReplySrcPort is the endpoint's port: a Service whose targetPort changes keeps the Pod's
	// address, and only the port tells its old flows from its new ones.
	ReplySrcPort uint16
	IPv6         bool // the family, when neither address is set
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
	if f.ReplySrcPort != 0 {
		args = append(args, "--reply-port-src", fmt.Sprint(f.ReplySrcPort))
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

// Flow is one conntrack entry, as the start-up clean-up compares it with the endpoints.
type Flow struct {
	Protocol string     // "udp", "tcp", ...
	Dst      netip.Addr // original destination: the Service address
	DstPort  uint16     // original destination port
	ReplySrc netip.Addr // the reply's source: the endpoint the flow was DNATed to
	// ReplySrcPort is the reply's source port: the endpoint's port (0 when not read).
	ReplySrcPort uint16
}

// FlowLister lists the UDP conntrack entries of one family. A Conntrack that implements it gets
// the start-up clean-up: the entries of endpoints removed while no proxy ran (nothing else knows
// of them: the proxy's memory of what it programmed starts empty).
type FlowLister interface {
	List(ctx context.Context, ipv6 bool) ([]Flow, error)
}

// List runs conntrack -L for the family's UDP entries.
func (c ExecConntrack) List(ctx context.Context, ipv6 bool) ([]Flow, error) {
	family := "ipv4"
	if ipv6 {
		family = "ipv6"
	}
	argv := append(append(append([]string{}, c.Prefix...), "conntrack"), "-L", "-p", "udp", "-f", family)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("conntrack -L: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parseFlows(string(out)), nil
}

// parseFlows reads conntrack -L's lines ("udp 17 29 src=A dst=B sport=P dport=Q [UNREPLIED]
// src=C dst=D sport=R dport=S ..."): the original direction's dst and dport, the reply's src
// and sport. Lines it cannot read are skipped.
func parseFlows(out string) []Flow {
	var flows []Flow
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		f := Flow{Protocol: fields[0]}
		srcs, sports := 0, 0
		var dst, dport, replySrc, replySport string
		for _, x := range fields[1:] {
			k, v, ok := strings.Cut(x, "=")
			switch {
			case !ok:
			case k == "src":
				srcs++
				if srcs == 2 {
					replySrc = v
				}
			case k == "sport":
				sports++
				if sports == 2 {
					replySport = v
				}
			case k == "dst" && dst == "":
				dst = v
			case k == "dport" && dport == "":
				dport = v
			}
		}
		var err1, err2, err3 error
		var port uint64
		f.Dst, err1 = netip.ParseAddr(dst)
		port, err2 = strconv.ParseUint(dport, 10, 16)
		f.ReplySrc, err3 = netip.ParseAddr(replySrc)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		f.DstPort = uint16(port)
		if p, err := strconv.ParseUint(replySport, 10, 16); err == nil {
			f.ReplySrcPort = uint16(p)
		}
		flows = append(flows, f)
	}
	return flows
}
