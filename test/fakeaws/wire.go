package fakeaws

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// params wraps the decoded form of one query-protocol request. The two list
// encodings differ only in the infix: EC2 writes "Prefix.N" and the ELB APIs
// write "Prefix.member.N"; callers pass the full list prefix.
type params url.Values

func (p params) str(key string) string { return url.Values(p).Get(key) }

func (p params) has(key string) bool { _, ok := p[key]; return ok }

// integer parses an optional integer; a present but malformed value is a
// ValidationError, as AWS reports it.
func (p params) integer(key string, def int) (int, error) {
	v := p.str(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, validation("%s: %q is not an integer", key, v)
	}
	return n, nil
}

// list returns the scalar members "prefix.1", "prefix.2", ... in index order.
func (p params) list(prefix string) []string {
	var out []string
	for _, e := range p.indexed(prefix) {
		if v, ok := e.sub[""]; ok {
			out = append(out, v[0])
		}
	}
	return out
}

// structs returns one params per list member, its keys relative to
// "prefix.N.", in index order.
func (p params) structs(prefix string) []params {
	var out []params
	for _, e := range p.indexed(prefix) {
		out = append(out, e.sub)
	}
	return out
}

type indexedEntry struct {
	n   int
	sub params
}

func (p params) indexed(prefix string) []indexedEntry {
	byIndex := map[int]params{}
	for k, v := range p {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, tail, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			continue
		}
		if byIndex[n] == nil {
			byIndex[n] = params{}
		}
		byIndex[n][tail] = v
	}
	out := make([]indexedEntry, 0, len(byIndex))
	for n, sub := range byIndex {
		out = append(out, indexedEntry{n, sub})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out
}

// node is a response XML element. Responses are built as trees rather than
// from tagged structs because the three APIs disagree on list encoding and
// element case, and a tree keeps each response readable next to the AWS
// reference.
type node struct {
	name string
	text string
	kids []*node
	leaf bool
}

// el builds an element; nil children are dropped so optional fields can be
// written inline with opt.
func el(name string, kids ...*node) *node {
	n := &node{name: name}
	for _, k := range kids {
		if k != nil {
			n.kids = append(n.kids, k)
		}
	}
	return n
}

func leaf(name, text string) *node { return &node{name: name, text: text, leaf: true} }

func opt(name, text string) *node {
	if text == "" {
		return nil
	}
	return leaf(name, text)
}

func intLeaf(name string, v int) *node { return leaf(name, strconv.Itoa(v)) }

func boolLeaf(name string, v bool) *node { return leaf(name, strconv.FormatBool(v)) }

// wrap names every entry itemName ("item" for EC2, "member" for ELB) and
// puts them under a list element.
func wrap(name, itemName string, entries []*node) *node {
	l := &node{name: name}
	for _, e := range entries {
		e.name = itemName
		l.kids = append(l.kids, e)
	}
	return l
}

// strs is wrap for scalar lists.
func strs(name, itemName string, vals []string) *node {
	l := &node{name: name}
	for _, v := range vals {
		l.kids = append(l.kids, leaf(itemName, v))
	}
	return l
}

func (n *node) write(b *bytes.Buffer) {
	b.WriteByte('<')
	b.WriteString(n.name)
	b.WriteByte('>')
	if n.leaf {
		_ = xml.EscapeText(b, []byte(n.text))
	}
	for _, k := range n.kids {
		k.write(b)
	}
	b.WriteString("</")
	b.WriteString(n.name)
	b.WriteByte('>')
}

// tagNodes renders a tag map sorted by key, with the given element names.
func tagNodes(tags map[string]string, keyName, valueName string) []*node {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*node, 0, len(keys))
	for _, k := range keys {
		out = append(out, el("", leaf(keyName, k), leaf(valueName, tags[k])))
	}
	return out
}

// page slices a sorted list for the marker-based pagination that every
// Describe call here uses. The marker is an opaque offset; a marker the
// server did not hand out is a ValidationError, as on AWS.
func page[T any](items []T, marker string, size int) ([]T, string, error) {
	start := 0
	if marker != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(marker, "fake-marker-"))
		if err != nil || !strings.HasPrefix(marker, "fake-marker-") || n < 0 || n > len(items) {
			return nil, "", validation("invalid pagination marker %q", marker)
		}
		start = n
	}
	if size <= 0 || start+size >= len(items) {
		return items[start:], "", nil
	}
	return items[start : start+size], fmt.Sprintf("fake-marker-%d", start+size), nil
}

func copyTags(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
