package main

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// result gathers every run of one benchmark: its figures by unit (ns/op, B/op, allocs/op, and any
// custom unit reported with b.ReportMetric, such as p99-ms).
type result struct {
	name   string
	values map[string][]float64
	units  []string // in first-seen order
}

// parseBench reads `go test -bench` output. The -N GOMAXPROCS suffix is dropped from names.
func parseBench(out []byte) []*result {
	byName := map[string]*result{}
	var order []*result
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := byName[name]
		if r == nil {
			r = &result{name: name, values: map[string][]float64{}}
			byName[name] = r
			order = append(order, r)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			unit := f[i+1]
			if _, seen := r.values[unit]; !seen {
				r.units = append(r.units, unit)
			}
			r.values[unit] = append(r.values[unit], v)
		}
	}
	return order
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func format(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v == float64(int64(v)):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// duration renders nanoseconds in the unit a reader expects: 212 ns, 3.4 µs, 141 ms, 3.21 s.
func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return format(ns/1e9) + " s"
	case ns >= 1e6:
		return format(ns/1e6) + " ms"
	case ns >= 1e3:
		return format(ns/1e3) + " µs"
	}
	return format(ns) + " ns"
}

func cell(unit string, vals []float64) string {
	if len(vals) == 0 {
		return ""
	}
	f := format
	if unit == "ns/op" {
		f = duration
	}
	m := median(vals)
	lo, hi := slices.Min(vals), slices.Max(vals)
	if len(vals) == 1 || lo == hi {
		return f(m)
	}
	return fmt.Sprintf("%s (%s–%s)", f(m), f(lo), f(hi))
}

func header(unit string) string {
	if unit == "ns/op" {
		return "time/op"
	}
	return unit
}

func renderSection(s suite, m machine, results []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n%s\n\n", s.title, s.about)
	fmt.Fprintf(&b, "Command: `make bench SUITE=%s` (runs `%s`)  \n", s.name, s.commandLine())
	fmt.Fprintf(&b, "Measured %s on %s, %d cores, %s, commit %s.\n\n", m.date, m.cpu, m.cores, m.goVersion, m.commit)

	if s.quantiles {
		renderQuantiles(&b, results)
		return b.String()
	}
	var units []string
	for _, r := range results {
		for _, u := range r.units {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	heads := make([]string, len(units))
	for i, u := range units {
		heads[i] = header(u)
	}
	fmt.Fprintf(&b, "| benchmark | %s |\n|---|%s\n", strings.Join(heads, " | "), strings.Repeat("---|", len(units)))
	for _, r := range results {
		row := make([]string, len(units))
		for i, u := range units {
			row[i] = cell(u, r.values[u])
		}
		fmt.Fprintf(&b, "| %s | %s |\n", r.name, strings.Join(row, " | "))
	}
	if len(s.ratios) > 0 {
		b.WriteString("\n| ratio (same run, median ns/op) | value |\n|---|---|\n")
		for _, q := range s.ratios {
			fmt.Fprintf(&b, "| %s | %s |\n", q.label, ratioOf(results, q))
		}
	}
	return b.String()
}

// renderQuantiles writes one row per measured quantity of metrics named <what>-<q>-ms. The p95
// column is there only when some benchmark reports one (a target stated at p95).
func renderQuantiles(b *strings.Builder, results []*result) {
	qs := []string{"p50", "p99", "max"}
	if slices.ContainsFunc(results, func(r *result) bool {
		return slices.ContainsFunc(r.units, func(u string) bool { return strings.HasSuffix(u, "-p95-ms") })
	}) {
		qs = []string{"p50", "p95", "p99", "max"}
	}
	fmt.Fprintf(b, "| benchmark | measured | %s |\n|---|---|%s\n", strings.Join(qs, " | "), strings.Repeat("---|", len(qs)))
	for _, r := range results {
		var rows []string
		for _, u := range r.units {
			for _, q := range qs {
				if what, ok := strings.CutSuffix(u, "-"+q+"-ms"); ok && !slices.Contains(rows, what) {
					rows = append(rows, what)
				}
			}
		}
		for _, what := range rows {
			cells := make([]string, len(qs))
			for i, q := range qs {
				if c := cell(what+"-"+q+"-ms", r.values[what+"-"+q+"-ms"]); c != "" {
					cells[i] = c + " ms"
				}
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", r.name, strings.ReplaceAll(what, "-", " "), strings.Join(cells, " | "))
		}
	}
	renderOthers(b, results, qs)
}

// renderOthers lists, under a quantile table, the figures that are not quantiles (a start time,
// a memory size, a ratio), one row each, named by their unit. ns/op, B/op and allocs/op of a
// one-shot end-to-end benchmark only describe the harness and are left out.
func renderOthers(b *strings.Builder, results []*result, qs []string) {
	isQuantile := func(u string) bool {
		for _, q := range qs {
			if strings.HasSuffix(u, "-"+q+"-ms") {
				return true
			}
		}
		return false
	}
	head := false
	for _, r := range results {
		for _, u := range r.units {
			if u == "ns/op" || u == "B/op" || u == "allocs/op" || isQuantile(u) {
				continue
			}
			if !head {
				b.WriteString("\n| benchmark | figure | value |\n|---|---|---|\n")
				head = true
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", r.name, u, cell(u, r.values[u]))
		}
	}
}

func ratioOf(results []*result, q ratio) string {
	get := func(name string) (float64, bool) {
		for _, r := range results {
			if r.name == name && len(r.values["ns/op"]) > 0 {
				return median(r.values["ns/op"]), true
			}
		}
		return 0, false
	}
	base, ok1 := get(q.baseline)
	ours, ok2 := get(q.ours)
	if !ok1 || !ok2 || ours == 0 {
		return "not measured (benchmark missing from this run)"
	}
	return fmt.Sprintf("%.1f×", base/ours)
}

// replaceSection swaps the text between a suite's markers, appending the section if it is new.
func replaceSection(doc []byte, name, body string) []byte {
	begin := fmt.Sprintf("<!-- BEGIN bench:%s -->", name)
	end := fmt.Sprintf("<!-- END bench:%s -->", name)
	block := begin + "\n" + body + end
	s := string(doc)
	i := strings.Index(s, begin)
	j := strings.Index(s, end)
	if i >= 0 && j > i {
		return []byte(s[:i] + block + s[j+len(end):])
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(s + "\n" + block + "\n")
}
