package l2

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"sort"

	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// link is what the announcer needs to know about one network interface.
type link struct {
	ifi      net.Interface  // name, index, MAC, MTU and flags, as the dialer needs them
	prefixes []netip.Prefix // configured addresses with their subnet length
}

func (l link) name() string { return l.ifi.Name }

// unusable reports why the link cannot carry announcements, or "" when it can.
func (l link) unusable() InterfaceReason {
	switch {
	case l.ifi.Flags&net.FlagLoopback != 0 || len(l.ifi.HardwareAddr) != 6:
		return InterfaceNotEthernet
	// FlagRunning is the carrier (IFF_RUNNING): an admin-up port with its cable out cannot be
	// heard, and treating it as down means its VIPs get a fresh burst when the carrier returns,
	// which is when switches have forgotten the MAC.
	case l.ifi.Flags&net.FlagUp == 0 || l.ifi.Flags&net.FlagRunning == 0:
		return InterfaceDown
	}
	return ""
}

// sameLink reports whether two listings describe the same live device, so that an open socket
// can be kept. A device deleted and re-created under the same name gets a new index.
func sameLink(a, b link) bool {
	return a.ifi.Index == b.ifi.Index && bytes.Equal(a.ifi.HardwareAddr, b.ifi.HardwareAddr)
}

// ownAddr reports whether addr is configured on the link (used to spot our own packets).
func (l link) ownAddr(addr netip.Addr) bool {
	addr = addr.WithZone("")
	for _, p := range l.prefixes {
		if p.Addr() == addr {
			return true
		}
	}
	return false
}

// osLinks lists the interfaces of the network namespace of the calling thread, with their
// addresses from one dump (interfaceAddrs): asking each interface for its own addresses dumps
// every address of the node once per interface, and a Kubernetes node has a veth per pod.
func osLinks() ([]link, error) {
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	addrs, err := interfaceAddrs()
	if err != nil {
		return nil, err
	}
	links := make([]link, 0, len(ifis))
	for _, ifi := range ifis {
		links = append(links, link{ifi: ifi, prefixes: addrs[ifi.Index]})
	}
	return links, nil
}

// plan is where every wanted VIP goes, computed from one listing of the links. It is pure data so
// the selection rules are tested without sockets.
type plan struct {
	links map[string]*linkPlan // by interface name, only links that announce something
	vips  map[netip.Addr]*vipPlan
}

type linkPlan struct {
	link link
	vips map[protocol][]netip.Addr // sorted
}

type vipPlan struct {
	named  bool     // the caller named the interfaces
	ifaces []string // interfaces it is announced on (so far: a socket can still fail)
	errs   []error
}

// fail moves a VIP off one interface for the given reason.
func (v *vipPlan) fail(iface string, err error) {
	v.ifaces = slices.DeleteFunc(v.ifaces, func(n string) bool { return n == iface })
	v.errs = append(v.errs, err)
}

// reported returns the errors that belong in the VIP's status. For a VIP placed by subnet, a
// second matching interface being down is not the user's concern while another one serves it.
func (v *vipPlan) reported() []error {
	if v.named || len(v.ifaces) == 0 {
		return v.errs
	}
	return nil
}

func (v *vipPlan) status() VIPStatus {
	s := VIPStatus{Interfaces: slices.Clone(v.ifaces)}
	sort.Strings(s.Interfaces)
	if errs := v.reported(); len(errs) == 1 {
		s.Err = errs[0]
	} else if len(errs) > 1 {
		s.Err = errorList(slices.Clone(errs))
	}
	return s
}

// makePlan picks the interfaces of every wanted VIP.
func makePlan(links []link, want map[netip.Addr]announce.Announcement) plan {
	byName := make(map[string]link, len(links))
	for _, l := range links {
		byName[l.name()] = l
	}
	p := plan{links: map[string]*linkPlan{}, vips: make(map[netip.Addr]*vipPlan, len(want))}
	place := func(vip netip.Addr, vp *vipPlan, l link) {
		if r := l.unusable(); r != "" {
			vp.errs = append(vp.errs, &ErrInterfaceUnavailable{Interface: l.name(), Reason: r})
			return
		}
		if slices.Contains(vp.ifaces, l.name()) {
			return
		}
		vp.ifaces = append(vp.ifaces, l.name())
		lp := p.links[l.name()]
		if lp == nil {
			lp = &linkPlan{link: l, vips: map[protocol][]netip.Addr{}}
			p.links[l.name()] = lp
		}
		lp.vips[protocolOf(vip)] = append(lp.vips[protocolOf(vip)], vip)
	}
	for vip, ann := range want {
		vp := &vipPlan{named: len(ann.Interfaces) > 0}
		p.vips[vip] = vp
		if err := checkVIP(vip); err != nil {
			vp.errs = append(vp.errs, err)
			continue
		}
		if vp.named {
			for _, name := range ann.Interfaces {
				l, ok := byName[name]
				if !ok {
					vp.errs = append(vp.errs, &ErrInterfaceUnavailable{Interface: name, Reason: InterfaceMissing})
					continue
				}
				place(vip, vp, l)
			}
			continue
		}
		matched := false
		for _, l := range links {
			if l.ifi.Flags&net.FlagLoopback == 0 && inSubnet(l, vip) {
				matched = true
				place(vip, vp, l)
			}
		}
		if !matched {
			vp.errs = append(vp.errs, &ErrNoSubnet{VIP: vip})
		}
	}
	for _, lp := range p.links {
		for _, vips := range lp.vips {
			slices.SortFunc(vips, netip.Addr.Compare)
		}
	}
	return p
}

// inSubnet reports whether one of the link's subnets contains vip. Host routes (/32, /128) do not
// count: an address assigned alone, like a VIP put on a dummy device, says nothing about which
// segment the VIP's clients are on.
func inSubnet(l link, vip netip.Addr) bool {
	for _, p := range l.prefixes {
		if p.Bits() < p.Addr().BitLen() && p.Masked().Contains(vip) {
			return true
		}
	}
	return false
}
