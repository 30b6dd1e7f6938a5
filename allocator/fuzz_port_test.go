package allocator

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// portModel is the reference for the port allocator: who holds each port, for which protocols.
type portModel struct {
	r       PortRange
	static  int
	holders map[uint16]portHolder
}

func (m *portModel) freeInBand(b int) bool {
	for off := range m.r.Size() {
		band := 1
		if off < m.static {
			band = 0
		}
		if band == b && m.holders[m.r.First+uint16(off)].owner == "" {
			return true
		}
	}
	return false
}

// claim applies Allocate or Restore to the model and returns the error expected.
func (m *portModel) claim(owner string, proto Protocol, port uint16, restore bool) error {
	if !m.r.Contains(port) && !restore {
		return &ErrNotInRange{Port: port, Valid: m.r.String()}
	}
	h := m.holders[port]
	switch {
	case h.owner == "":
		m.holders[port] = portHolder{owner: owner, protos: proto.bit()}
	case h.owner != owner:
		return &ErrPortConflict{Port: port, Owner: owner, Holder: h.owner}
	default:
		h.protos |= proto.bit()
		m.holders[port] = h
	}
	return nil
}

func FuzzPortAllocator(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1, 1, 2, 5, 2, 1, 0, 5, 3, 1, 0, 5})
	f.Add([]byte{1, 1, 0, 1, 0, 3, 2, 2, 4, 1, 0, 2, 0, 1, 5, 0, 0, 4})
	f.Add(append([]byte{1}, slices.Repeat([]byte{0, 0, 0}, 45)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return // longer inputs add steps, not new states, and slow minimisation down
		}
		r := &byteReader{data: data}
		// Either 40 ports (a static band of 16) or 10 (no static band).
		pr := []PortRange{{First: 100, Last: 139}, {First: 100, Last: 109}}[r.next()%2]
		a, err := NewPortAllocator(pr)
		if err != nil {
			t.Fatal(err)
		}
		m := &portModel{r: pr, static: StaticBandSize(pr.Size()), holders: map[uint16]portHolder{}}
		for step := 0; r.i < len(r.data); step++ {
			desc, err := fuzzPortStep(r, a, m)
			if err != nil {
				t.Fatalf("step %d (%s): %v", step, desc, err)
			}
			if err := a.checkInvariants(); err != nil {
				t.Fatalf("step %d (%s): invariant: %v", step, desc, err)
			}
			if err := comparePortModel(a, m); err != nil {
				t.Fatalf("step %d (%s): %v", step, desc, err)
			}
		}
	})
}

func fuzzPortStep(r *byteReader, a *PortAllocator, m *portModel) (string, error) {
	b := r.next()
	owner := fmt.Sprintf("ns/o%d", b%4)
	proto := []Protocol{TCP, UDP, SCTP, TCP}[(b>>2)%4]
	// Ports 95-144: some below and above the range.
	port := uint16(95 + int(r.next())%50)
	same := func(got, want error) error {
		if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
			return fmt.Errorf("error %w, want %w", got, want)
		}
		return nil
	}
	switch op := (b >> 4) % 6; op {
	case 0, 1:
		desc := fmt.Sprintf("AllocateNext %s %s", owner, proto)
		got, err := a.AllocateNext(owner, proto)
		dyn, stat := m.freeInBand(1), m.freeInBand(0)
		switch {
		case err != nil:
			if !errors.Is(err, ErrFull) || dyn || stat {
				return desc, fmt.Errorf("error %w with free ports left", err)
			}
			return desc, nil
		case !m.r.Contains(got) || m.holders[got].owner != "":
			return desc, fmt.Errorf("got port %d, not a free port of the range", got)
		case dyn && int(got-m.r.First) < m.static:
			return desc, fmt.Errorf("got %d from the static band while the dynamic band had room", got)
		}
		m.holders[got] = portHolder{owner: owner, protos: proto.bit()}
		return desc, nil
	case 2:
		desc := fmt.Sprintf("Allocate %s %s %d", owner, proto, port)
		return desc, same(a.Allocate(owner, proto, port), m.claim(owner, proto, port, false))
	case 3:
		desc := fmt.Sprintf("Restore %s %s %d", owner, proto, port)
		return desc, same(a.Restore(owner, proto, port), m.claim(owner, proto, port, true))
	case 4:
		desc := fmt.Sprintf("Release %s %s %d", owner, proto, port)
		h := m.holders[port]
		want := h.owner == owner && h.protos&proto.bit() != 0
		if want {
			h.protos &^= proto.bit()
			m.holders[port] = h
			if h.protos == 0 {
				delete(m.holders, port)
			}
		}
		if got := a.Release(owner, proto, port); got != want {
			return desc, fmt.Errorf("Release = %v, want %v", got, want)
		}
		return desc, nil
	default:
		desc := "ReleaseOwner " + owner
		var want []uint16
		for p, h := range m.holders {
			if h.owner == owner {
				want = append(want, p)
				delete(m.holders, p)
			}
		}
		slices.Sort(want)
		if got := a.ReleaseOwner(owner); !slices.Equal(got, want) {
			return desc, fmt.Errorf("ReleaseOwner = %v, want %v", got, want)
		}
		return desc, nil
	}
}

func comparePortModel(a *PortAllocator, m *portModel) error {
	want := PortStats{Range: m.r, Size: m.r.Size(), StaticBand: m.static}
	owners := map[string][]uint16{}
	for p := uint16(90); p < 150; p++ {
		h, ok := m.holders[p]
		owner, protos, got := a.Holder(p)
		var bits protoSet
		for _, pr := range protos {
			bits |= pr.bit()
		}
		if got != ok || owner != h.owner || bits != h.protos {
			return fmt.Errorf("port %d held by %q %v (%v), model says %+v", p, owner, protos, got, h)
		}
		if !ok {
			continue
		}
		owners[owner] = append(owners[owner], p)
		switch {
		case !m.r.Contains(p):
			want.OutOfRange++
		case int(p-m.r.First) < m.static:
			want.StaticUsed++
			want.Used++
		default:
			want.Used++
		}
	}
	want.Free = want.Size - want.Used
	if got := a.Stats(); got != want {
		return fmt.Errorf("Stats() = %+v, want %+v", got, want)
	}
	for i := range 4 {
		o := fmt.Sprintf("ns/o%d", i)
		if got := a.Ports(o); !slices.Equal(got, owners[o]) {
			return fmt.Errorf("Ports(%s) = %v, want %v", o, got, owners[o])
		}
	}
	return nil
}
