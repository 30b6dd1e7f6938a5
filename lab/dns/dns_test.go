package dns

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"
)

type fakeServices map[string][]netip.Addr // "ns/name"

func (f fakeServices) Lookup(ns, name string) ([]netip.Addr, bool) {
	a, ok := f[ns+"/"+name]
	return a, ok
}

func TestAnswer(t *testing.T) {
	svcs := fakeServices{
		"default/hello-svc": {netip.MustParseAddr("198.19.128.10"), netip.MustParseAddr("fd00::10")},
		"default/headless":  nil,
	}
	for _, tc := range []struct {
		name  string
		qname string
		qtype dnsmessage.Type
		rcode dnsmessage.RCode
		want  []string
	}{
		{"service A", "hello-svc.default.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"198.19.128.10"}},
		{"case-insensitive", "Hello-Svc.Default.SVC.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"198.19.128.10"}},
		{"service AAAA", "hello-svc.default.svc.cluster.local.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, []string{"fd00::10"}},
		{"headless: exists, no address", "headless.default.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, nil},
		{"unknown service", "nope.default.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"search-domain miss", "hello-svc.default.svc.cluster.local.default.svc.cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"zone apex", "cluster.local.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"outside the zone: never forwarded", "example.com.", dnsmessage.TypeA, dnsmessage.RCodeRefused, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := dnsmessage.Message{
				Header:    dnsmessage.Header{ID: 42, RecursionDesired: true},
				Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(tc.qname), Type: tc.qtype, Class: dnsmessage.ClassINET}},
			}
			raw, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			out, err := Answer(raw, svcs)
			if err != nil {
				t.Fatal(err)
			}
			var m dnsmessage.Message
			if err := m.Unpack(out); err != nil {
				t.Fatal(err)
			}
			if m.ID != 42 || !m.Response || m.RCode != tc.rcode {
				t.Errorf("header: id %d response %v rcode %v; want id 42, a response, %v", m.ID, m.Response, m.RCode, tc.rcode)
			}
			var got []string
			for _, a := range m.Answers {
				switch r := a.Body.(type) {
				case *dnsmessage.AResource:
					got = append(got, netip.AddrFrom4(r.A).String())
				case *dnsmessage.AAAAResource:
					got = append(got, netip.AddrFrom16(r.AAAA).String())
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("answers (-want +got)\n%s", d)
			}
		})
	}
}

func TestAnswerGarbage(t *testing.T) {
	if _, err := Answer([]byte{1, 2, 3}, fakeServices{}); err == nil {
		t.Error("Answer accepted 3 bytes of garbage")
	}
}
