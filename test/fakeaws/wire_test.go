package fakeaws

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParamsLists(t *testing.T) {
	form, err := url.ParseQuery("Subnets.member.2=b&Subnets.member.1=a&Subnets.member.10=j" +
		"&Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Key=k2" +
		"&IpPermissions.1.IpRanges.2.CidrIp=10.0.0.0/8&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0&IpPermissions.1.IpProtocol=tcp" +
		"&SecurityGroups=&Filter.1.Name=tag:x&Filter.1.Value.1=y")
	if err != nil {
		t.Fatal(err)
	}
	p := params(form)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"member list in index order", p.list("Subnets.member"), []string{"a", "b", "j"}},
		{"empty list encoding", p.list("SecurityGroups.member"), []string(nil)},
		{"struct list", []string{p.structs("Tags.member")[0].str("Key"), p.structs("Tags.member")[1].str("Key"), p.structs("Tags.member")[1].str("Value")}, []string{"k1", "k2", ""}},
		{"nested ec2 list", p.structs("IpPermissions")[0].structs("IpRanges")[1].str("CidrIp"), "10.0.0.0/8"},
		{"ec2 filter values", p.structs("Filter")[0].list("Value"), []string{"y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, tt.got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestPage(t *testing.T) {
	items := []int{1, 2, 3, 4, 5}
	var got [][]int
	marker := ""
	for {
		pg, next, err := page(items, marker, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pg)
		if next == "" {
			break
		}
		marker = next
	}
	if d := cmp.Diff([][]int{{1, 2}, {3, 4}, {5}}, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	for _, bad := range []string{"garbage", "fake-marker-9", "fake-marker--1"} {
		if _, _, err := page(items, bad, 2); err == nil {
			t.Errorf("marker %q accepted", bad)
		}
	}
}

// FuzzParams checks that any form the SDK (or anything else) sends decodes
// without panicking and that list members come back in index order.
func FuzzParams(f *testing.F) {
	f.Add("A.member.1=x&A.member.2=y")
	f.Add("A.1.B.2.C=z&A.1.B.1.C=w&A.01=q")
	f.Add("A.member.0=x&A.member.-1=y&A.member.999999999999999999999=z")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p := params(form)
		for k := range form {
			prefix, _, _ := strings.Cut(k, ".")
			p.list(prefix)
			p.list(prefix + ".member")
			for _, s := range p.structs(prefix) {
				s.list("member")
			}
			entries := p.indexed(prefix)
			for i := 1; i < len(entries); i++ {
				if entries[i-1].n >= entries[i].n {
					t.Fatalf("indices out of order: %d then %d", entries[i-1].n, entries[i].n)
				}
			}
		}
	})
}
