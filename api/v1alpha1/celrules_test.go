package v1alpha1_test

// The CEL rules of the CRDs are long single lines, since a kubebuilder marker cannot span lines.
// This file is their readable source: it composes each rule from the fragments below, and
// TestCELRulesMatchSource fails when the CRDs carry anything else. After changing a fragment,
// run
//
//	go test ./api/v1alpha1 -run TestCELRulesMatchSource -v -print-markers
//
// paste the printed markers over the old ones in the *_types.go files, and run `make generate`.
//
// Why the fragments look as they do (README.md has the full story): CEL in CRDs has no ordering
// of IP addresses and no cel.bind, and its cost estimator finds no bound (so refuses the CRD)
// for strings made by string(ip), charAt or join, or taken from a list bound to a name. So
//   - an address becomes an order key of ints, [family, bits 0-47, bits 48-95, bits 96-127],
//     read from its text group by group, each hex digit by '0123456789abcdef'.indexOf;
//   - a string or int is bound to a name by mapping over a one-element list: [v].map(n, f(n))[0];
//     lists made by split are indexed where they are made, never bound;
//   - each entry becomes a span [first key, last key], the last key of a CIDR being its first
//     with the bits after the prefix length set;
//   - empty strings are written "" because gofmt turns '' into a typographic quote in doc
//     comments.

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

var printMarkers = flag.Bool("print-markers", false, "print the kubebuilder markers composed by celrules_test.go")

// celPow2 are 2^0 to 2^16.
const celPow2 = "[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]"

func celSub(tmpl string, kv ...string) string { return strings.NewReplacer(kv...).Replace(tmpl) }

// celFirst and celLast are the two ends of the range E.
func celFirst(e string) string { return celSub("{E}.substring(0, {E}.indexOf('-'))", "{E}", e) }
func celLast(e string) string  { return celSub("{E}.substring({E}.indexOf('-') + 1)", "{E}", e) }

// celIsRange says E is two IP addresses joined by one '-'.
func celIsRange(e string) string {
	return celSub("({E}.indexOf('-') > 0 && {E}.indexOf('-') == {E}.lastIndexOf('-') && isIP({F}) && isIP({L}))",
		"{E}", e, "{F}", celFirst(e), "{L}", celLast(e))
}

// celIsFamilyRange says E is a range of two addresses of one family.
func celIsFamilyRange(e string) string {
	return celSub("({R} && ip({F}).family() == ip({L}).family())", "{R}", celIsRange(e), "{F}", celFirst(e), "{L}", celLast(e))
}

// celHex is the value of the hex group G (1 to 4 digits, lower case). String indexOf is
// costed by the searched string's length alone, so the digit table is a string.
func celHex(g string) string {
	return celSub("lists.range(4).map(i, i < size({G}) ? '0123456789abcdef'.indexOf({G}.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size({G}) + i] : 0).sum()",
		"{G}", g)
}

// celQuad is octet I of the dotted IPv4 tail of the IPv6 text T.
func celQuad(t string, i int) string {
	return fmt.Sprintf("int(%s.substring(%s.lastIndexOf(':') + 1).split('.')[%d])", t, t, i)
}

// celGroups is the address A (valid as isIP accepts it) as eight 16-bit ints, most
// significant first; IPv4 fills the first two. IPv6 text is lower-cased, split at "::" into
// L and R, and group k read from L, from R or as zero; a dotted IPv4 tail
// (64:ff9b::198.51.100.1) is read as 0:0 and then gives groups 6 and 7.
//
// Only strings and ints are bound ([v].map(n, ...)): bound lists lose the sizes of their
// elements in the cost estimate, which then has no bound. Lists from split are indexed where
// they are made.
func celGroups(a string) string {
	return celSub("(ip({A}).family() == 4 ? [int({A}.split('.')[0]) * 256 + int({A}.split('.')[1]), int({A}.split('.')[2]) * 256 + int({A}.split('.')[3]), 0, 0, 0, 0, 0, 0] : "+
		"[{A}.lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, "+
		"[u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? \"\" : u.split('::')[1]].map(r, lists.range(8).map(k, "+
		"t.contains('.') && k >= 6 ? (k == 6 ? {Q0} * 256 + {Q1} : {Q2} * 256 + {Q3}) : "+
		"k < (l == \"\" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, {H})[0] : "+
		"k >= 8 - (r == \"\" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, {H})[0] : 0))[0])[0])[0])[0])",
		"{A}", a, "{H}", celHex("g"), "{Q0}", celQuad("t", 0), "{Q1}", celQuad("t", 1), "{Q2}", celQuad("t", 2), "{Q3}", celQuad("t", 3))
}

// celKey is the order key of the groups G of family F: [F, bits 0-47, bits 48-95, bits
// 96-127] as ints, compared by celLE.
func celKey(f, g string) string {
	return celSub("[{F}, {G}[0] * 4294967296 + {G}[1] * 65536 + {G}[2], {G}[3] * 4294967296 + {G}[4] * 65536 + {G}[5], {G}[6] * 65536 + {G}[7]]",
		"{F}", f, "{G}", g)
}

// celAddrKey is the order key of the address A.
func celAddrKey(a string) string {
	return celSub("[{G}].map(g, {K})[0]", "{G}", celGroups(a), "{K}", celKey("ip("+a+").family()", "g"))
}

// celLastGroups are the groups of the last address of the masked CIDR with groups G, prefix
// length L and address length W: the bits from L to W set.
func celLastGroups(g, l, w string) string {
	return celSub("lists.range(8).map(k, 16 * k + 16 <= {L} ? {G}[k] : 16 * k >= {L} ? (16 * k < {W} ? 65535 : 0) : {G}[k] + {P}[16 * k + 16 - {L}] - 1)",
		"{G}", g, "{L}", l, "{W}", w, "{P}", celPow2)
}

// celRangeSpan is [first key, last key] of the range E.
func celRangeSpan(e string) string {
	return "[" + celAddrKey(celFirst(e)) + ", " + celAddrKey(celLast(e)) + "]"
}

// celSpan is [first key, last key] of the entry E, which must be a masked CIDR or a range of
// one family.
func celSpan(e string) string {
	return celSub("(isCIDR({E}) ? [{E}.substring(0, {E}.indexOf('/'))].map(a, [{G}].map(g, [[cidr({E}).prefixLength(), ip(a).family() == 4 ? 32 : 128]].map(lw, [{KF}, {KL}])[0])[0])[0] : {RS})",
		"{E}", e, "{G}", celGroups("a"), "{KF}", celKey("(lw[1] == 32 ? 4 : 6)", "g"), "{KL}", celKey("(lw[1] == 32 ? 4 : 6)", celLastGroups("g", "lw[0]", "lw[1]")),
		"{RS}", celRangeSpan(e))
}

// celLE says key X <= key Y.
func celLE(x, y string) string {
	return celSub("({X}[0] < {Y}[0] || {X}[0] == {Y}[0] && ({X}[1] < {Y}[1] || {X}[1] == {Y}[1] && ({X}[2] < {Y}[2] || {X}[2] == {Y}[2] && {X}[3] <= {Y}[3])))",
		"{X}", x, "{Y}", y)
}

// celOverlap says the spans X and Y share an address.
func celOverlap(x, y string) string {
	return "(" + celLE(x+"[0]", y+"[1]") + " && " + celLE(y+"[0]", x+"[1]") + ")"
}

// celWellFormed says E is a masked CIDR or a range of one family: what celSpan reads.
func celWellFormed(e string) string {
	return celSub("(isCIDR({E}) && cidr({E}) == cidr({E}).masked() || {R})", "{E}", e, "{R}", celIsFamilyRange(e))
}

// celKeyOf is the order key of a, as a CEL literal.
func celKeyOf(a netip.Addr) string {
	b := a.As16()
	g := func(i int) uint64 { return uint64(b[2*i])<<8 | uint64(b[2*i+1]) }
	if a.Is4() {
		return fmt.Sprintf("[4, %d, 0, 0]", g(6)<<32|g(7)<<16)
	}
	return fmt.Sprintf("[6, %d, %d, %d]", g(0)<<32|g(1)<<16|g(2), g(3)<<32|g(4)<<16|g(5), g(6)<<16|g(7))
}

// celReserved is v1alpha1.ReservedPrefixes as a list of spans, and celReservedNames their
// names as the Go parser's messages spell them.
func celReserved() string {
	spans := make([]string, len(v1alpha1.ReservedPrefixes))
	for i, r := range v1alpha1.ReservedPrefixes {
		spans[i] = "[" + celKeyOf(r.Prefix.Addr()) + ", " + celKeyOf(v1alpha1.PrefixEntry(r.Prefix).Last) + "]"
	}
	return "[" + strings.Join(spans, ", ") + "]"
}

func celReservedNames() string {
	names := make([]string, len(v1alpha1.ReservedPrefixes))
	for i, r := range v1alpha1.ReservedPrefixes {
		names[i] = fmt.Sprintf("'%s (%s)'", r.Prefix, r.What)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// celReservedList is v1alpha1.ReservedPrefixes for the reserved rule's fixed message: one
// address without its length, the last after "or".
func celReservedList() string {
	names := make([]string, len(v1alpha1.ReservedPrefixes))
	for i, r := range v1alpha1.ReservedPrefixes {
		names[i] = r.Prefix.String()
		if r.Prefix.IsSingleIP() {
			names[i] = r.Prefix.Addr().String()
		}
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// celTooLarge says the span S holds more addresses than a /MinPrefixLengthIPv4 or
// /MinPrefixLengthIPv6: Last - First >= 2^(32-8) for IPv4, whose addresses sit in bits 0-31 of
// key[1] shifted by 16; >= 2^(128-32) for IPv6, where key[1] is bits 0-47 and the lower parts
// may borrow.
func celTooLarge(s string) string {
	v4 := uint64(1) << (32 - v1alpha1.MinPrefixLengthIPv4 + 16)
	v6 := uint64(1) << (48 - v1alpha1.MinPrefixLengthIPv6)
	return celSub("({S}[0][0] == 4 ? {S}[1][1] - {S}[0][1] >= {V4} : {S}[1][1] - {S}[0][1] > {V6} || {S}[1][1] - {S}[0][1] == {V6} && "+
		"({S}[1][2] > {S}[0][2] || {S}[1][2] == {S}[0][2] && {S}[1][3] >= {S}[0][3]))",
		"{S}", s, "{V4}", fmt.Sprint(v4), "{V6}", fmt.Sprint(v6))
}

// celAllocationName is the IPAllocation name of the canonical address A (IPAllocationName).
func celAllocationName(a string) string {
	return celSub(`(ip({A}).family() == 4 ? {A} : ({A}.startsWith(':') ? '0' : "") + {A}.replace(':', '-') + ({A}.endsWith(':') ? '0' : ""))`, "{A}", a)
}

// celIfName says the string S is a Linux interface name as the kernel and systemd accept it
// (1 to 15 characters is the schema's maxLength): printable ASCII, no '/' or ':', not "." or
// "..". Printable ASCII keeps characters and bytes equal, so maxLength is the kernel's limit
// of 15 bytes.
func celIfName(s string) string {
	return celSub(`{S}.matches('^[!-~]+$') && !{S}.contains('/') && !{S}.contains(':') && {S} != '.' && {S} != '..'`, "{S}", s)
}

// celIfNameWhy says what is wrong with S, which celIfName refused.
func celIfNameWhy(s string) string {
	return celSub(`({S} == "" ? 'it is empty' : {S} == '.' || {S} == '..' ? '. and .. are not allowed' : {S}.contains('/') ? 'it contains /' : `+
		`{S}.contains(':') ? 'it contains : (eth0:1 is an address label; name the interface, eth0)' : `+
		`'it contains whitespace, a control character or non-ASCII')`, "{S}", s)
}

// celRule is one x-kubernetes-validations entry and where its marker goes.
type celRule struct {
	where             string // "IPPool spec.addresses items", ...
	items             bool   // an items: marker
	rule, messageExpr string
	message           string
	fieldPath         string
}

// composedRules are the rules the CRDs must carry (apart from the immutability rules
// self == oldSelf, which need no composing).
func composedRules() []celRule {
	const ifAccepted = `each entry of spec.interfaces must be 1 to 15 printable ASCII characters without /, : or whitespace, such as eth0 or bond0.100`
	const accepted = `want a CIDR such as 198.51.100.0/24 or 2001:db8::/64, or an inclusive range FIRST-LAST such as 198.51.100.10-198.51.100.20 (one address is 198.51.100.7/32)`
	return []celRule{{
		where: "IPPool spec.addresses items", items: true,
		rule:        `isCIDR(self) || ` + celIsRange("self"),
		messageExpr: `(self.contains('/') ? 'not a valid CIDR' : self.contains('-') ? 'not a range of two IP addresses' : 'neither a CIDR nor a range') + '; ` + accepted + `'`,
		message:     `each entry must be a CIDR such as 198.51.100.0/24 or 2001:db8::/64, or an inclusive range FIRST-LAST such as 198.51.100.10-198.51.100.20`,
	}, {
		where: "IPPool spec.addresses items", items: true,
		rule:    `!isCIDR(self) || cidr(self) == cidr(self).masked()`,
		message: `bits set after the prefix length: write the network address (198.51.100.0/24, not 198.51.100.7/24), or use a range`,
	}, {
		where: "IPPool spec.addresses items", items: true,
		rule:    `!` + celIsRange("self") + ` || ip(` + celFirst("self") + `).family() == ip(` + celLast("self") + `).family()`,
		message: `a range must not mix IPv4 and IPv6: both ends must be of one family`,
	}, {
		where: "IPPool spec.addresses items", items: true,
		rule:        `isCIDR(self) || !` + celIsFamilyRange("self") + ` || [` + celRangeSpan("self") + `].all(r, ` + celLE("r[0]", "r[1]") + `)`,
		messageExpr: `'reversed range: the first address must not be greater than the last; write ' + ` + celLast("self") + ` + '-' + ` + celFirst("self"),
		message:     `reversed range: the first address must not be greater than the last`,
	}, {
		where: "IPPool spec.addresses items", items: true,
		rule: `!` + celWellFormed("self") + ` || [` + celSpan("self") + `].all(s, !` + celTooLarge("s") + `)`,
		message: fmt.Sprintf(`holds more addresses than a /%d of IPv4 or a /%d of IPv6, the largest pool entry; no pool needs more, and 0.0.0.0/0 or ::/0 would take every address`,
			v1alpha1.MinPrefixLengthIPv4, v1alpha1.MinPrefixLengthIPv6),
	}, {
		where: "IPPool spec.addresses items", items: true,
		rule: `!` + celWellFormed("self") + ` || [` + celSpan("self") + `].all(s, ` + celReserved() + `.all(r, !` + celOverlap("s", "r") + `))`,
		messageExpr: `[` + celSpan("self") + `].map(s, 'overlaps ' + ` + celReservedNames() + `[lists.range(` + fmt.Sprint(len(v1alpha1.ReservedPrefixes)) +
			`).filter(i, ` + celOverlap("s", celReserved()+"[i]") + `)[0]] + ', which is never a LoadBalancer address')[0]`,
		message: `overlaps a range that is never a LoadBalancer address: ` + celReservedList(),
	}, {
		where: "IPPool spec.addresses",
		rule: `!self.all(e, isCIDR(e) && cidr(e) == cidr(e).masked() || ` + celIsFamilyRange("e") + `) || [self.map(e, ` + celSpan("e") +
			`)].all(s, !s.all(x, ` + celLE("x[0]", "x[1]") + `) || s.all(i, x, s.all(j, y, j <= i || !` + celOverlap("x", "y") + `)))`,
		messageExpr: `[self.map(e, ` + celSpan("e") + `)].map(s, [s.transformList(i, x, s.exists(j, y, j > i && ` + celOverlap("x", "y") +
			`), i)[0]].map(i, '"' + self[i] + '" overlaps "' + self[s.transformList(j, y, j > i && ` + celOverlap("s[i]", "y") +
			`, j)[0]] + '"; every address may belong to one entry only: merge or split the entries')[0])[0]`,
		message: `entries of one pool must not overlap`,
	}, {
		where:       "IPAllocation",
		rule:        `!isIP(self.spec.address) || !ip.isCanonical(self.spec.address) || self.metadata.name == ` + celAllocationName("self.spec.address"),
		messageExpr: `'metadata.name must be ' + ` + celAllocationName("self.spec.address") + ` + ', the name of address ' + self.spec.address + ' (IPv6 addresses are named with - for :, as in 2001-db8--7 for 2001:db8::7)'`,
		message:     `metadata.name must encode spec.address: the address itself for IPv4, the address with - for : for IPv6 (2001-db8--7 for 2001:db8::7)`,
		fieldPath:   ".spec.address",
	}, {
		where:       "IPAllocation spec.address",
		rule:        `isIP(self) && ip.isCanonical(self)`,
		messageExpr: `isIP(self) ? 'not in canonical form: write it in lower case with the longest run of zero groups as ::, as in 2001:db8::7' : 'not an IP address; want an IPv4 or IPv6 address in canonical form, such as 198.51.100.7 or 2001:db8::7'`,
		message:     `spec.address must be an IP address in canonical form, such as 198.51.100.7 or 2001:db8::7`,
	}, {
		where: "IPAllocation status.announcers items", items: true,
		rule:      `self.mode == 'L2' || !has(self.interface)`,
		message:   `interface is set only for mode L2: a BGP announcement is not bound to an interface`,
		fieldPath: ".interface",
	}, {
		where: "L2Advertisement spec.interfaces items", items: true,
		rule:        celIfName("self"),
		messageExpr: `'not a Linux interface name: ' + ` + celIfNameWhy("self") + ` + '; ` + ifAccepted + `'`,
		message:     `each entry of spec.interfaces must be a Linux interface name: 1 to 15 printable ASCII characters without /, : or whitespace, not . or .., such as eth0 or bond0.100`,
	}, {
		where: "L2Advertisement spec.ipPools items", items: true,
		rule:    `!format.dns1123Subdomain().validate(self).hasValue()`,
		message: `each entry of spec.ipPools must be the name of an IPPool: a DNS subdomain of lower case letters, digits, - and . (such as blue or pool-1.example)`,
	}}
}

// marker is the kubebuilder marker line of r.
func (r celRule) marker() string {
	prefix := ""
	if r.items {
		prefix = "items:"
	}
	s := fmt.Sprintf("// +kubebuilder:validation:%sXValidation:rule=`%s`", prefix, r.rule)
	if r.messageExpr != "" {
		s += fmt.Sprintf(",messageExpression=`%s`", r.messageExpr)
	}
	s += fmt.Sprintf(",message=`%s`", r.message)
	if r.fieldPath != "" {
		s += ",fieldPath=`" + r.fieldPath + "`"
	}
	return s
}
