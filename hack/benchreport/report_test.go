package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `goos: linux
BenchmarkAssign/allocated=1k-2         	 5000000	       210.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkAssign/allocated=1k-2         	 5000000	       230.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkAssign/allocated=1k-2         	 5000000	       220.0 ns/op	      16 B/op	       1 allocs/op
BenchmarkLinearScanAssign/allocated=1k-2 	  100000	     22000 ns/op	       0 B/op	       0 allocs/op
BenchmarkCreateToIngress-2	       1	 12.5 p50-ms	 80.0 p99-ms
PASS
`

func TestParseBench(t *testing.T) {
	rs := parseBench([]byte(sample))
	var names []string
	for _, r := range rs {
		names = append(names, r.name)
	}
	if diff := cmp.Diff([]string{"Assign/allocated=1k", "LinearScanAssign/allocated=1k", "CreateToIngress"}, names); diff != "" {
		t.Fatalf("names (-want +got):\n%s", diff)
	}
	if got := median(rs[0].values["ns/op"]); got != 220 {
		t.Errorf("median ns/op = %v, want 220", got)
	}
	if diff := cmp.Diff([]string{"p50-ms", "p99-ms"}, rs[2].units); diff != "" {
		t.Errorf("custom units (-want +got):\n%s", diff)
	}
	q := ratio{"x", "LinearScanAssign/allocated=1k", "Assign/allocated=1k"}
	if got := ratioOf(rs, q); got != "100.0×" {
		t.Errorf("ratio = %q, want 100.0×", got)
	}
	if got := ratioOf(rs, ratio{"x", "Missing", "Assign/allocated=1k"}); !strings.HasPrefix(got, "not measured") {
		t.Errorf("ratio with a missing benchmark = %q, want a 'not measured' note", got)
	}
}

func TestReplaceSection(t *testing.T) {
	doc := []byte("# B\n")
	doc = replaceSection(doc, "a", "first\n")
	doc = replaceSection(doc, "b", "second\n")
	doc = replaceSection(doc, "a", "again\n")
	want := "# B\n\n<!-- BEGIN bench:a -->\nagain\n<!-- END bench:a -->\n\n<!-- BEGIN bench:b -->\nsecond\n<!-- END bench:b -->\n"
	if diff := cmp.Diff(want, string(doc)); diff != "" {
		t.Errorf("doc (-want +got):\n%s", diff)
	}
}

func TestCellUnits(t *testing.T) {
	for _, tt := range []struct {
		unit string
		vals []float64
		want string
	}{
		{"ns/op", []float64{3210000310}, "3.21 s"},
		{"ns/op", []float64{212, 230, 220}, "220 ns (212 ns–230 ns)"},
		{"ns/op", []float64{141e6}, "141 ms"},
		{"B/op", []float64{16}, "16"},
		{"p99-ms", []float64{1.234}, "1.23"},
	} {
		if got := cell(tt.unit, tt.vals); got != tt.want {
			t.Errorf("cell(%s, %v) = %q, want %q", tt.unit, tt.vals, got, tt.want)
		}
	}
}

func TestRenderQuantiles(t *testing.T) {
	rs := parseBench([]byte("BenchmarkL2Failover-2\t1\t7.5 kill-gap-max-ms\t5.0 kill-gap-p50-ms\t7.0 kill-gap-p99-ms\t805 kill-takeover-max-ms\t791 kill-takeover-p50-ms\t800 kill-takeover-p99-ms\n"))
	var b strings.Builder
	renderQuantiles(&b, rs)
	want := "| benchmark | measured | p50 | p99 | max |\n|---|---|---|---|---|\n" +
		"| L2Failover | kill gap | 5 ms | 7 ms | 7.50 ms |\n" +
		"| L2Failover | kill takeover | 791 ms | 800 ms | 805 ms |\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestRenderQuantilesP95(t *testing.T) {
	rs := parseBench([]byte("BenchmarkLab-2\t1\t990 first-request-p50-ms\t1040 first-request-p95-ms\t1060 first-request-p99-ms\t1063 first-request-max-ms\t200 alloc-p50-ms\n"))
	var b strings.Builder
	renderQuantiles(&b, rs)
	want := "| benchmark | measured | p50 | p95 | p99 | max |\n|---|---|---|---|---|---|\n" +
		"| Lab | first request | 990 ms | 1040 ms | 1060 ms | 1063 ms |\n" +
		"| Lab | alloc | 200 ms |  |  |  |\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestRenderQuantilesWithOtherFigures(t *testing.T) {
	rs := parseBench([]byte("BenchmarkProxies/cold-2\t1\t9000000 ns/op\t4.0 a-p50-ms\t100 B/op\t2 allocs/op\t3.25 ours-s\t12 theirs/ours-x\n"))
	var b strings.Builder
	renderQuantiles(&b, rs)
	want := "| benchmark | measured | p50 | p99 | max |\n|---|---|---|---|---|\n" +
		"| Proxies/cold | a | 4 ms |  |  |\n" +
		"\n| benchmark | figure | value |\n|---|---|---|\n" +
		"| Proxies/cold | ours-s | 3.25 |\n" +
		"| Proxies/cold | theirs/ours-x | 12 |\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
