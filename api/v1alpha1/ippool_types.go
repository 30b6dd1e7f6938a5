package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPPool is a set of addresses that the bare-metal provider hands out to LoadBalancer Services.
// Each address in use has an IPAllocation naming the pool. Pools must not share addresses: the
// API server rejects overlapping entries within one pool, and the controller marks a pool whose
// entries overlap another pool's with Valid=False (reason Overlap).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=frontdesk
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="IPv4 Assigned",type=integer,JSONPath=`.status.assignedIPv4`
// +kubebuilder:printcolumn:name="IPv4 Capacity",type=string,JSONPath=`.status.capacityIPv4`
// +kubebuilder:printcolumn:name="IPv6 Assigned",type=integer,JSONPath=`.status.assignedIPv6`
// +kubebuilder:printcolumn:name="IPv6 Capacity",type=string,JSONPath=`.status.capacityIPv6`
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`,priority=1
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=`.spec.priority`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +genclient
// +genclient:nonNamespaced
type IPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IPPoolSpec `json:"spec"`
	// +optional
	Status IPPoolStatus `json:"status,omitempty"`
}

// IPPoolSpec says which addresses a pool holds and which Services may draw from it.
type IPPoolSpec struct {
	// Addresses are the pool's addresses, IPv4, IPv6 or both. Each entry is either a CIDR,
	// such as 198.51.100.0/24 or 2001:db8::/64, written with its network address (no bits set
	// after the prefix length), or an inclusive range FIRST-LAST of two addresses of one family,
	// such as 198.51.100.10-198.51.100.20 or 2001:db8::10-2001:db8::1f (no spaces). One address
	// is written as a /32 or /128 CIDR. Entries must not overlap each other, nor any other
	// pool's entries. A pool holds 1 to 64 entries of at most 91 characters each: the bound
	// under which the API server can check every pair for overlap within its CEL cost limit
	// (use more pools for more entries).
	//
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=91
	// +kubebuilder:validation:items:XValidation:rule=`isCIDR(self) || (self.indexOf('-') > 0 && self.indexOf('-') == self.lastIndexOf('-') && isIP(self.substring(0, self.indexOf('-'))) && isIP(self.substring(self.indexOf('-') + 1)))`,messageExpression=`(self.contains('/') ? 'not a valid CIDR' : self.contains('-') ? 'not a range of two IP addresses' : 'neither a CIDR nor a range') + '; want a CIDR such as 198.51.100.0/24 or 2001:db8::/64, or an inclusive range FIRST-LAST such as 198.51.100.10-198.51.100.20 (one address is 198.51.100.7/32)'`,message=`each entry must be a CIDR such as 198.51.100.0/24 or 2001:db8::/64, or an inclusive range FIRST-LAST such as 198.51.100.10-198.51.100.20`
	// +kubebuilder:validation:items:XValidation:rule=`!isCIDR(self) || cidr(self) == cidr(self).masked()`,message=`bits set after the prefix length: write the network address (198.51.100.0/24, not 198.51.100.7/24), or use a range`
	// +kubebuilder:validation:items:XValidation:rule=`!(self.indexOf('-') > 0 && self.indexOf('-') == self.lastIndexOf('-') && isIP(self.substring(0, self.indexOf('-'))) && isIP(self.substring(self.indexOf('-') + 1))) || ip(self.substring(0, self.indexOf('-'))).family() == ip(self.substring(self.indexOf('-') + 1)).family()`,message=`a range must not mix IPv4 and IPv6: both ends must be of one family`
	// +kubebuilder:validation:items:XValidation:rule=`isCIDR(self) || !((self.indexOf('-') > 0 && self.indexOf('-') == self.lastIndexOf('-') && isIP(self.substring(0, self.indexOf('-'))) && isIP(self.substring(self.indexOf('-') + 1))) && ip(self.substring(0, self.indexOf('-'))).family() == ip(self.substring(self.indexOf('-') + 1)).family()) || [[[(ip(self.substring(0, self.indexOf('-'))).family() == 4 ? [int(self.substring(0, self.indexOf('-')).split('.')[0]) * 256 + int(self.substring(0, self.indexOf('-')).split('.')[1]), int(self.substring(0, self.indexOf('-')).split('.')[2]) * 256 + int(self.substring(0, self.indexOf('-')).split('.')[3]), 0, 0, 0, 0, 0, 0] : [self.substring(0, self.indexOf('-')).lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [ip(self.substring(0, self.indexOf('-'))).family(), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]])[0], [(ip(self.substring(self.indexOf('-') + 1)).family() == 4 ? [int(self.substring(self.indexOf('-') + 1).split('.')[0]) * 256 + int(self.substring(self.indexOf('-') + 1).split('.')[1]), int(self.substring(self.indexOf('-') + 1).split('.')[2]) * 256 + int(self.substring(self.indexOf('-') + 1).split('.')[3]), 0, 0, 0, 0, 0, 0] : [self.substring(self.indexOf('-') + 1).lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [ip(self.substring(self.indexOf('-') + 1)).family(), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]])[0]]].all(r, (r[0][0] < r[1][0] || r[0][0] == r[1][0] && (r[0][1] < r[1][1] || r[0][1] == r[1][1] && (r[0][2] < r[1][2] || r[0][2] == r[1][2] && r[0][3] <= r[1][3]))))`,messageExpression=`'reversed range: the first address must not be greater than the last; write ' + self.substring(self.indexOf('-') + 1) + '-' + self.substring(0, self.indexOf('-'))`,message=`reversed range: the first address must not be greater than the last`
	// +kubebuilder:validation:XValidation:rule=`!self.all(e, isCIDR(e) && cidr(e) == cidr(e).masked() || ((e.indexOf('-') > 0 && e.indexOf('-') == e.lastIndexOf('-') && isIP(e.substring(0, e.indexOf('-'))) && isIP(e.substring(e.indexOf('-') + 1))) && ip(e.substring(0, e.indexOf('-'))).family() == ip(e.substring(e.indexOf('-') + 1)).family())) || [self.map(e, (isCIDR(e) ? [e.substring(0, e.indexOf('/'))].map(a, [(ip(a).family() == 4 ? [int(a.split('.')[0]) * 256 + int(a.split('.')[1]), int(a.split('.')[2]) * 256 + int(a.split('.')[3]), 0, 0, 0, 0, 0, 0] : [a.lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [[cidr(e).prefixLength(), ip(a).family() == 4 ? 32 : 128]].map(lw, [[(lw[1] == 32 ? 4 : 6), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]], [(lw[1] == 32 ? 4 : 6), lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[0] * 4294967296 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[1] * 65536 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[2], lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[3] * 4294967296 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[4] * 65536 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[5], lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[6] * 65536 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[7]]])[0])[0])[0] : [[(ip(e.substring(0, e.indexOf('-'))).family() == 4 ? [int(e.substring(0, e.indexOf('-')).split('.')[0]) * 256 + int(e.substring(0, e.indexOf('-')).split('.')[1]), int(e.substring(0, e.indexOf('-')).split('.')[2]) * 256 + int(e.substring(0, e.indexOf('-')).split('.')[3]), 0, 0, 0, 0, 0, 0] : [e.substring(0, e.indexOf('-')).lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [ip(e.substring(0, e.indexOf('-'))).family(), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]])[0], [(ip(e.substring(e.indexOf('-') + 1)).family() == 4 ? [int(e.substring(e.indexOf('-') + 1).split('.')[0]) * 256 + int(e.substring(e.indexOf('-') + 1).split('.')[1]), int(e.substring(e.indexOf('-') + 1).split('.')[2]) * 256 + int(e.substring(e.indexOf('-') + 1).split('.')[3]), 0, 0, 0, 0, 0, 0] : [e.substring(e.indexOf('-') + 1).lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [ip(e.substring(e.indexOf('-') + 1)).family(), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]])[0]]))].all(s, !s.all(x, (x[0][0] < x[1][0] || x[0][0] == x[1][0] && (x[0][1] < x[1][1] || x[0][1] == x[1][1] && (x[0][2] < x[1][2] || x[0][2] == x[1][2] && x[0][3] <= x[1][3])))) || s.all(i, x, s.all(j, y, j <= i || !((x[0][0] < y[1][0] || x[0][0] == y[1][0] && (x[0][1] < y[1][1] || x[0][1] == y[1][1] && (x[0][2] < y[1][2] || x[0][2] == y[1][2] && x[0][3] <= y[1][3]))) && (y[0][0] < x[1][0] || y[0][0] == x[1][0] && (y[0][1] < x[1][1] || y[0][1] == x[1][1] && (y[0][2] < x[1][2] || y[0][2] == x[1][2] && y[0][3] <= x[1][3])))))))`,messageExpression=`[self.map(e, (isCIDR(e) ? [e.substring(0, e.indexOf('/'))].map(a, [(ip(a).family() == 4 ? [int(a.split('.')[0]) * 256 + int(a.split('.')[1]), int(a.split('.')[2]) * 256 + int(a.split('.')[3]), 0, 0, 0, 0, 0, 0] : [a.lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [[cidr(e).prefixLength(), ip(a).family() == 4 ? 32 : 128]].map(lw, [[(lw[1] == 32 ? 4 : 6), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]], [(lw[1] == 32 ? 4 : 6), lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[0] * 4294967296 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[1] * 65536 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[2], lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[3] * 4294967296 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[4] * 65536 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[5], lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[6] * 65536 + lists.range(8).map(k, 16 * k + 16 <= lw[0] ? g[k] : 16 * k >= lw[0] ? (16 * k < lw[1] ? 65535 : 0) : g[k] + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536][16 * k + 16 - lw[0]] - 1)[7]]])[0])[0])[0] : [[(ip(e.substring(0, e.indexOf('-'))).family() == 4 ? [int(e.substring(0, e.indexOf('-')).split('.')[0]) * 256 + int(e.substring(0, e.indexOf('-')).split('.')[1]), int(e.substring(0, e.indexOf('-')).split('.')[2]) * 256 + int(e.substring(0, e.indexOf('-')).split('.')[3]), 0, 0, 0, 0, 0, 0] : [e.substring(0, e.indexOf('-')).lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [ip(e.substring(0, e.indexOf('-'))).family(), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]])[0], [(ip(e.substring(e.indexOf('-') + 1)).family() == 4 ? [int(e.substring(e.indexOf('-') + 1).split('.')[0]) * 256 + int(e.substring(e.indexOf('-') + 1).split('.')[1]), int(e.substring(e.indexOf('-') + 1).split('.')[2]) * 256 + int(e.substring(e.indexOf('-') + 1).split('.')[3]), 0, 0, 0, 0, 0, 0] : [e.substring(e.indexOf('-') + 1).lowerAscii()].map(t, [t.contains('.') ? t.substring(0, t.lastIndexOf(':') + 1) + '0:0' : t].map(u, [u.split('::')[0]].map(l, [size(u.split('::')) < 2 ? "" : u.split('::')[1]].map(r, lists.range(8).map(k, t.contains('.') && k >= 6 ? (k == 6 ? int(t.substring(t.lastIndexOf(':') + 1).split('.')[0]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[1]) : int(t.substring(t.lastIndexOf(':') + 1).split('.')[2]) * 256 + int(t.substring(t.lastIndexOf(':') + 1).split('.')[3])) : k < (l == "" ? 0 : size(l.split(':'))) ? [l.split(':')[k]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : k >= 8 - (r == "" ? 0 : size(r.split(':'))) ? [r.split(':')[k - 8 + size(r.split(':'))]].map(g, lists.range(4).map(i, i < size(g) ? '0123456789abcdef'.indexOf(g.substring(i, i + 1)) * [4096, 256, 16, 1][4 - size(g) + i] : 0).sum())[0] : 0))[0])[0])[0])[0])].map(g, [ip(e.substring(e.indexOf('-') + 1)).family(), g[0] * 4294967296 + g[1] * 65536 + g[2], g[3] * 4294967296 + g[4] * 65536 + g[5], g[6] * 65536 + g[7]])[0]]))].map(s, [s.transformList(i, x, s.exists(j, y, j > i && ((x[0][0] < y[1][0] || x[0][0] == y[1][0] && (x[0][1] < y[1][1] || x[0][1] == y[1][1] && (x[0][2] < y[1][2] || x[0][2] == y[1][2] && x[0][3] <= y[1][3]))) && (y[0][0] < x[1][0] || y[0][0] == x[1][0] && (y[0][1] < x[1][1] || y[0][1] == x[1][1] && (y[0][2] < x[1][2] || y[0][2] == x[1][2] && y[0][3] <= x[1][3]))))), i)[0]].map(i, '"' + self[i] + '" overlaps "' + self[s.transformList(j, y, j > i && ((s[i][0][0] < y[1][0] || s[i][0][0] == y[1][0] && (s[i][0][1] < y[1][1] || s[i][0][1] == y[1][1] && (s[i][0][2] < y[1][2] || s[i][0][2] == y[1][2] && s[i][0][3] <= y[1][3]))) && (y[0][0] < s[i][1][0] || y[0][0] == s[i][1][0] && (y[0][1] < s[i][1][1] || y[0][1] == s[i][1][1] && (y[0][2] < s[i][1][2] || y[0][2] == s[i][1][2] && y[0][3] <= s[i][1][3])))), j)[0]] + '"; every address may belong to one entry only: merge or split the entries')[0])[0]`,message=`entries of one pool must not overlap`
	Addresses []string `json:"addresses"`

	// AvoidBuggyIPs, when true, keeps the network and broadcast addresses of every IPv4 CIDR
	// entry (its first and last address, as with 198.51.100.0 and 198.51.100.255 of
	// 198.51.100.0/24) out of allocation: some client stacks still treat them as special and
	// drop traffic to them. It changes nothing for ranges and IPv6 entries, nor for /31 and
	// /32 CIDRs, whose every address is a host address (RFC 3021).
	//
	// +optional
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// AutoAssign, when true (the default), lets a Service that names no pool draw from this
	// pool. When false, only Services that name this pool draw from it.
	//
	// +optional
	// +kubebuilder:default=true
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// Priority orders the pools a Service may draw from: the pool with the lowest number is
	// tried first, and the next one only when it has no free address of the family needed.
	// Pools of equal priority are tried in the order of their names. The default is 0;
	// negative numbers put a pool before those that set none.
	//
	// +optional
	// +kubebuilder:default=0
	Priority int32 `json:"priority,omitempty"`

	// Namespaces, if set, limits the pool to Services in the listed namespaces. A Service's
	// namespace qualifies when it is listed here or matches one of NamespaceSelectors; when
	// both are empty, every namespace qualifies.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors, if set, limits the pool to Services whose namespace's labels match
	// at least one of the selectors (or that is listed in Namespaces).
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors, if set, limits the pool to Services whose labels match at least one
	// of the selectors. It applies in addition to the namespace restriction: a Service must
	// pass both. Empty means every Service.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`

	// AllowCrossNamespaceSharing, when true, lets Services of different namespaces share an
	// address of this pool (with the same frontdesk.dev/allow-shared-ip key, as always). By
	// default a sharing key is a namespace's own: a Service joins an address only when every
	// Service holding it is in its namespace, so a tenant who learns or guesses another tenant's
	// key cannot join that tenant's address. Set it only on pools whose namespaces trust each
	// other.
	//
	// +optional
	AllowCrossNamespaceSharing bool `json:"allowCrossNamespaceSharing,omitempty"`
}

// IPPoolStatus is what the controller observed of a pool. Counts and capacities are per family,
// since a Service asks for an address of a given family.
type IPPoolStatus struct {
	// CapacityIPv4 is the number of IPv4 addresses the pool can hand out (after AvoidBuggyIPs
	// exclusions), in decimal. It is a string because CapacityIPv6 must be one (an IPv6 /64
	// alone holds 2^64 addresses, more than an int64 holds) and the two are read alike.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=39
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]*)$`
	CapacityIPv4 string `json:"capacityIPv4,omitempty"`

	// CapacityIPv6 is the number of IPv6 addresses the pool can hand out, in decimal, exactly
	// (up to 2^128, 39 digits).
	//
	// +optional
	// +kubebuilder:validation:MaxLength=39
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]*)$`
	CapacityIPv6 string `json:"capacityIPv6,omitempty"`

	// AssignedIPv4 is the number of IPv4 addresses of the pool held by an IPAllocation.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	AssignedIPv4 int32 `json:"assignedIPv4"`

	// AssignedIPv6 is the number of IPv6 addresses of the pool held by an IPAllocation.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	AssignedIPv6 int32 `json:"assignedIPv6"`

	// Conditions are the pool's observed state; the types are IPPoolConditionValid,
	// IPPoolConditionAddressesOutsideSpec and IPPoolConditionExhausted.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// The condition types of an IPPool.
const (
	// IPPoolConditionValid is True when every entry of spec.addresses parses, no two entries
	// overlap, no entry overlaps another pool and every selector is a valid label selector.
	// When it is False the pool hands out no new address (addresses already held stay held).
	// Reasons: IPPoolReasonValid; IPPoolReasonOverlap, whose message names the other pool and
	// both entries; IPPoolReasonInvalidAddresses; IPPoolReasonInvalidSelector.
	IPPoolConditionValid = "Valid"

	// IPPoolConditionAddressesOutsideSpec is True when some IPAllocation of this pool holds an
	// address that spec.addresses no longer contains (the pool was shrunk while the address was
	// in use). Such addresses are never moved or released by the controller; the message names
	// the addresses and their Services. Reasons: IPPoolReasonAddressesInUse (True),
	// IPPoolReasonAllInSpec (False).
	IPPoolConditionAddressesOutsideSpec = "AddressesOutsideSpec"

	// IPPoolConditionExhausted is True when every address of some family that the pool holds
	// is assigned, so a Service asking for that family must be served by another pool or wait.
	// The message names the family. Reasons: IPPoolReasonNoFreeAddresses (True),
	// IPPoolReasonFreeAddresses (False).
	IPPoolConditionExhausted = "Exhausted"
)

// The reasons of IPPool conditions.
const (
	IPPoolReasonValid            = "Valid"
	IPPoolReasonOverlap          = "Overlap"
	IPPoolReasonInvalidAddresses = "InvalidAddresses"
	IPPoolReasonInvalidSelector  = "InvalidSelector"
	IPPoolReasonAddressesInUse   = "AddressesInUse"
	IPPoolReasonAllInSpec        = "AllInSpec"
	IPPoolReasonNoFreeAddresses  = "NoFreeAddresses"
	IPPoolReasonFreeAddresses    = "FreeAddresses"
)

// IPPoolList is a list of IPPools.
//
// +kubebuilder:object:root=true
type IPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPPool `json:"items"`
}
