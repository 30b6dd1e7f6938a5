package v1alpha1

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAddressEntry(t *testing.T) {
	tests := []struct {
		in      string
		want    AddressEntry
		wantErr string
	}{
		{in: "198.51.100.0/24", want: AddressEntry{Text: "198.51.100.0/24", Prefix: netip.MustParsePrefix("198.51.100.0/24"),
			First: netip.MustParseAddr("198.51.100.0"), Last: netip.MustParseAddr("198.51.100.255")}},
		{in: "2001:db8::/126", want: AddressEntry{Text: "2001:db8::/126", Prefix: netip.MustParsePrefix("2001:db8::/126"),
			First: netip.MustParseAddr("2001:db8::"), Last: netip.MustParseAddr("2001:db8::3")}},
		{in: "2001:DB8::10-2001:db8::1f", want: AddressEntry{Text: "2001:DB8::10-2001:db8::1f",
			First: netip.MustParseAddr("2001:db8::10"), Last: netip.MustParseAddr("2001:db8::1f")}},
		{in: "198.51.100.7/24", wantErr: `"198.51.100.7/24" has bits set after its prefix length; write its network address, 198.51.100.0/24, or use a range`},
		{in: "198.51.100.20-198.51.100.10", wantErr: `"198.51.100.20-198.51.100.10" is reversed; its first address must not be greater than its last, as in 198.51.100.10-198.51.100.20`},
		{in: "198.51.100.1-2001:db8::1", wantErr: `"198.51.100.1-2001:db8::1" mixes IPv4 and IPv6; both ends of a range must be of one family`},
		{in: "::ffff:198.51.100.1-::ffff:198.51.100.2", wantErr: `"::ffff:198.51.100.1-::ffff:198.51.100.2" is not a range of two IP addresses; ` + acceptedEntries},
		{in: "fe80::1%eth0-fe80::2", wantErr: `"fe80::1%eth0-fe80::2" is not a range of two IP addresses; ` + acceptedEntries},
		{in: "198.51.100.7", wantErr: `"198.51.100.7" is neither a CIDR nor a range; ` + acceptedEntries},
		{in: "198.51.100.0/33", wantErr: `"198.51.100.0/33" is not a valid CIDR; ` + acceptedEntries},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddressEntry(tt.in)
			if tt.wantErr != "" {
				var inv *InvalidAddressError
				if !errors.As(err, &inv) || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseAddresses(t *testing.T) {
	entries, err := ParseAddresses([]string{
		"2001:db8::/64", "198.51.100.128/25", "198.51.100.0-198.51.100.200", "198.51.100.10-198.51.100.20",
		"198.51.100.250/31", "bad", "2001:db8::ffff-2001:db8::1:0",
	})
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.Error())
	}
	want := []string{
		`"bad" is neither a CIDR nor a range; ` + acceptedEntries,
		`"198.51.100.0-198.51.100.200" overlaps "198.51.100.10-198.51.100.20"; every address may belong to one entry only: merge or split the entries`,
		`"198.51.100.0-198.51.100.200" overlaps "198.51.100.128/25"; every address may belong to one entry only: merge or split the entries`,
		`"198.51.100.128/25" overlaps "198.51.100.250/31"; every address may belong to one entry only: merge or split the entries`,
		`"2001:db8::/64" overlaps "2001:db8::ffff-2001:db8::1:0"; every address may belong to one entry only: merge or split the entries`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
	var order []string
	for _, e := range entries {
		order = append(order, e.Text)
	}
	wantOrder := []string{"198.51.100.0-198.51.100.200", "198.51.100.10-198.51.100.20", "198.51.100.128/25",
		"198.51.100.250/31", "2001:db8::/64", "2001:db8::ffff-2001:db8::1:0"}
	if d := cmp.Diff(wantOrder, order); d != "" {
		t.Errorf("entries in address order (-want +got):\n%s", d)
	}
	if _, err := ParseAddresses([]string{"198.51.100.0/25", "198.51.100.128/25", "2001:db8::/64"}); err != nil {
		t.Errorf("adjacent entries: %v", err)
	}
}

func TestEntryOverlapsContains(t *testing.T) {
	e := func(s string) AddressEntry {
		x, err := ParseAddressEntry(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	// ::/0 is refused by the parser now (issue 17), but an entry that holds the IPv4-mapped
	// spellings of v4's addresses is still the sharpest test that families never overlap.
	v4, v6 := e("198.51.100.0/24"), AddressEntry{Text: "::/0", First: netip.IPv6Unspecified(), Last: lastAddr(netip.MustParsePrefix("::/0"))}
	if v4.Overlaps(v6) || v6.Overlaps(v4) {
		t.Error("entries of different families overlap")
	}
	if !v4.Overlaps(e("198.51.100.255-198.51.101.0")) || v4.Overlaps(e("198.51.101.0-198.51.101.9")) {
		t.Error("IPv4 overlap at the boundary is wrong")
	}
	if !v4.Contains(netip.MustParseAddr("198.51.100.255")) || v4.Contains(netip.MustParseAddr("198.51.101.0")) ||
		v6.Contains(netip.MustParseAddr("198.51.100.1")) {
		t.Error("Contains is wrong")
	}
	err := (&OverlapError{Entry: "198.51.100.0/24", Other: "198.51.100.0/25", OtherPool: "green"}).Error()
	if want := `"198.51.100.0/24" overlaps "198.51.100.0/25" of pool "green"; pools must not share addresses`; err != want {
		t.Errorf("OverlapError = %s, want %s", err, want)
	}
}
