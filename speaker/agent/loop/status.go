package loop

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// maxConflicts bounds the re-read-and-retry of one status write; the Writer retries later anyway.
const maxConflicts = 5

// modeReport is one protocol's Report with the mode of the entries it owns.
type modeReport struct {
	mode v1alpha1.AnnouncementMode
	Report
}

// queuedPart is the latest part of one mode of one address not written yet.
type queuedPart struct {
	seq  uint64
	part Part
	sure bool
}

// queueStatus hands the status of every address a report speaks of (and, when a report has a
// Default, of every allocation whose status names this node) to the Writer, and returns at once:
// the runs announce, the Writer writes, and a sick API server delays only the status.
//
// Per address and mode the latest part not written yet is kept, so a write merges every
// protocol's latest part of the address (a run where a protocol says nothing keeps the part it
// gave before), and each address is written once, if it differs: comparing with the informer's
// copy first, nothing is written while nothing changes, so API load grows with changes, not
// with addresses or time.
func (l *Loop) queueStatus(allocs []*v1alpha1.IPAllocation, reports []modeReport) {
	addrs := map[netip.Addr]bool{}
	defaults := false
	for _, r := range reports {
		for a := range r.Parts {
			addrs[a] = true
		}
		defaults = defaults || r.Default != nil
	}
	if defaults {
		// An address may have left a plan (its Service is gone) while this node's entry stays.
		for _, al := range allocs {
			addr, err := netip.ParseAddr(al.Spec.Address)
			if err == nil && names(al.Status, l.cfg.NodeName) {
				addrs[addr.Unmap()] = true
			}
		}
	}
	l.statusMu.Lock()
	defer l.statusMu.Unlock()
	for addr := range addrs {
		q := l.unwritten[addr]
		if q == nil {
			q = map[v1alpha1.AnnouncementMode]queuedPart{}
			l.unwritten[addr] = q
		}
		for _, r := range reports {
			p, ok := r.Parts[addr]
			if !ok && r.Default == nil {
				continue
			}
			if !ok {
				p = r.Default(addr)
			}
			l.partSeq++
			q[r.mode] = queuedPart{seq: l.partSeq, part: p, sure: r.Sure}
		}
		l.putStatus(addr, q)
	}
}

// putStatus asks the Writer for addr's write with the parts queued now, in the protocols' order
// (l.modes: every report comes from one of the loop's protocols). The caller holds statusMu.
func (l *Loop) putStatus(addr netip.Addr, q map[v1alpha1.AnnouncementMode]queuedPart) {
	var parts []Part
	seqs := make(map[v1alpha1.AnnouncementMode]uint64, len(q))
	sure := false
	for _, m := range l.modes {
		qp, ok := q[m]
		if !ok {
			continue
		}
		parts = append(parts, qp.part)
		seqs[m] = qp.seq
		sure = sure || qp.sure
	}
	l.writer.Put("IPAllocation/"+v1alpha1.IPAllocationName(addr), func(ctx context.Context) error {
		if err := l.write(ctx, addr, parts, sure); err != nil {
			return err
		}
		l.statusMu.Lock()
		defer l.statusMu.Unlock()
		for m, seq := range seqs {
			if l.unwritten[addr][m].seq == seq {
				delete(l.unwritten[addr], m)
			}
		}
		if len(l.unwritten[addr]) == 0 {
			delete(l.unwritten, addr)
		}
		return nil
	})
}

// EntryIndex is the index of node's entry of mode in st.Announcers, -1 when it has none: each
// protocol writes only its own.
func EntryIndex(st v1alpha1.IPAllocationStatus, node string, mode v1alpha1.AnnouncementMode) int {
	return slices.IndexFunc(st.Announcers, func(a v1alpha1.Announcer) bool { return a.Node == node && a.Mode == mode })
}

func names(st v1alpha1.IPAllocationStatus, self string) bool {
	return slices.ContainsFunc(st.Announcers, func(a v1alpha1.Announcer) bool { return a.Node == self })
}

func apply(st v1alpha1.IPAllocationStatus, parts []Part) v1alpha1.IPAllocationStatus {
	for _, p := range parts {
		st = p(st)
	}
	return st
}

// write writes addr's status with parts applied, if that changes it. On a conflict it re-reads
// the object and recomputes, so another node's concurrent entry is kept. sure: when the
// informer's copy shows nothing to change, read the object from the API server to be sure.
func (l *Loop) write(ctx context.Context, addr netip.Addr, parts []Part, sure bool) error {
	name := v1alpha1.IPAllocationName(addr)
	cur, err := l.allocs.Get(name)
	switch {
	case apierrors.IsNotFound(err) && !sure:
		return nil // not allocated, or released: nothing to report on
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	api := l.cfg.API.IPAllocations()
	if sure && (cur == nil || equality.Semantic.DeepEqual(cur.Status, apply(cur.Status, parts))) {
		if cur, err = api.Get(ctx, name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	for range maxConflicts {
		next := apply(cur.Status, parts)
		if equality.Semantic.DeepEqual(cur.Status, next) {
			return nil
		}
		obj := cur.DeepCopy()
		obj.Status = next
		_, err := api.UpdateStatus(ctx, obj, metav1.UpdateOptions{FieldManager: Component})
		switch {
		case err == nil:
			statusWrites.WithLabelValues("ok").Inc()
			l.log.V(2).Info("IPAllocation status written", "ipallocation", name, "announcers", len(next.Announcers))
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			statusWrites.WithLabelValues("error").Inc()
			return fmt.Errorf("writing the status of IPAllocation %s: %w", name, err)
		}
		statusWrites.WithLabelValues("conflict").Inc()
		if cur, err = api.Get(ctx, name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("re-reading IPAllocation %s after a conflict: %w", name, err)
		}
	}
	return fmt.Errorf("writing the status of IPAllocation %s: still conflicting after %d attempts", name, maxConflicts)
}

// SortAnnouncers sorts status.announcers by node, then mode: the order every writer keeps.
func SortAnnouncers(as []v1alpha1.Announcer) {
	slices.SortFunc(as, func(a, b v1alpha1.Announcer) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(string(a.Mode), string(b.Mode))
	})
}

// AnnouncersMessage is the message of the Announced condition while addr is announced: every
// announcer, with its mode and interfaces.
func AnnouncersMessage(addr string, as []v1alpha1.Announcer) string {
	parts := make([]string, len(as))
	for i, a := range as {
		if a.Interface != "" {
			parts[i] = fmt.Sprintf("%s (%s, %s)", a.Node, a.Mode, a.Interface)
		} else {
			parts[i] = fmt.Sprintf("%s (%s)", a.Node, a.Mode)
		}
	}
	return fmt.Sprintf("%s is announced from %s", addr, strings.Join(parts, ", "))
}
