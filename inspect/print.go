package inspect

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// The output formats, kubectl's -o.
const (
	OutputTable = ""
	OutputWide  = "wide"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
)

// CheckOutput refuses a format the printers do not know.
func CheckOutput(o string) error {
	switch o {
	case OutputTable, OutputWide, OutputJSON, OutputYAML:
		return nil
	}
	return fmt.Errorf("unknown output format %q: want json, yaml or wide", o)
}

func printData(w io.Writer, format string, v any) error {
	switch format {
	case OutputJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case OutputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// PrintStatus prints the Services: a table (one line per address), or JSON or YAML.
func PrintStatus(w io.Writer, format string, svcs []ServiceStatus, allNamespaces bool) error {
	if format == OutputJSON || format == OutputYAML {
		return printData(w, format, map[string]any{"services": svcs})
	}
	tw := newTable(w)
	head := []string{"NAME", "ADDRESS", "POOL", "ANNOUNCED BY", "READY", "REASON"}
	if allNamespaces {
		head = append([]string{"NAMESPACE"}, head...)
	}
	if format == OutputWide {
		head = append(head, "POLICY", "MESSAGE")
	}
	tw.row(head...)
	for _, s := range svcs {
		// One line per address; a Service without one yet gets a line of its own.
		addrs := s.Addresses
		if len(addrs) == 0 {
			addrs = []AddressStatus{{}}
		}
		for i, a := range addrs {
			name, ns, ready, reason := s.Name, s.Namespace, orDash(s.Ready), orDash(s.Reason)
			if i > 0 { // the Service's other addresses: only what differs
				name, ns, ready, reason = "", "", "", ""
			}
			address, by := a.Address, a.announcedBy()
			if address == "" {
				address, by = "<pending>", "-"
			}
			row := []string{name, address, orDash(a.Pool), by, ready, reason}
			if allNamespaces {
				row = append([]string{ns}, row...)
			}
			if format == OutputWide {
				msg := ""
				if i == 0 {
					msg = s.Message
				}
				row = append(row, orDash(string(s.Policy)), msg)
			}
			tw.row(row...)
		}
	}
	return tw.flush()
}

// PrintPools prints the pools: a table (one line per family), or JSON or YAML.
func PrintPools(w io.Writer, format string, pools []PoolUse) error {
	if format == OutputJSON || format == OutputYAML {
		return printData(w, format, map[string]any{"pools": pools})
	}
	tw := newTable(w)
	head := []string{"NAME", "FAMILY", "ASSIGNED", "SERVICES", "STATE"}
	if format == OutputWide {
		head = append(head, "HELD BY")
	}
	tw.row(head...)
	for _, p := range pools {
		fams := p.Families
		if len(fams) == 0 {
			fams = []FamilyUse{{Family: "-", Capacity: "0"}}
		}
		for i, f := range fams {
			name, svcs, state := p.Name, fmt.Sprint(len(p.Services)), p.state()
			if i > 0 {
				name, svcs, state = "", "", ""
			}
			row := []string{name, f.Family, f.use(), svcs, state}
			if format == OutputWide {
				held := ""
				if i == 0 {
					held = strings.Join(p.Services, ",")
				}
				row = append(row, held)
			}
			tw.row(row...)
		}
	}
	return tw.flush()
}

// table is a tabwriter whose lines lose their trailing padding when flushed to w.
type table struct {
	w   io.Writer
	buf strings.Builder
	tw  *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 8, 3, ' ', 0)
	return t
}

// row adds a line; the writes go to memory, and an error would surface at flush.
func (t *table) row(cells ...string) { _, _ = fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(t.buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PrintWhy prints a Finding: the failing step, what was found and what to do, or the path.
func PrintWhy(w io.Writer, format string, f Finding) error {
	if format == OutputJSON || format == OutputYAML {
		return printData(w, format, f)
	}
	var err error
	if f.Step == "" {
		_, err = fmt.Fprintf(w, "%s\n  path: %s\n", f.Detail, f.Path)
		return err
	}
	reason := ""
	if f.Reason != "" {
		reason = " (" + f.Reason + ")"
	}
	_, err = fmt.Fprintf(w, "step %s fails%s: %s\n  fix: %s\n", f.Step, reason, f.Detail, f.Fix)
	return err
}
