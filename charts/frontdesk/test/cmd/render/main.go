// Command render renders the frontdesk chart with the Helm SDK, as `helm template` would (values
// merged over values.yaml and checked against values.schema.json, no cluster: `lookup` finds
// nothing), and prints the objects of the kinds asked for as one YAML stream. The lab
// (lab/supervisor) installs its frontdesk.dev objects and RBAC with it, on machines without helm.
//
//	render --chart=charts/frontdesk -f lab-values.yaml --kinds=IPPool,L2Advertisement,ClusterRole
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// files is a repeatable -f flag.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	chartDir := fs.String("chart", "charts/frontdesk", "the chart's folder")
	release := fs.String("release", "frontdesk", "release name")
	namespace := fs.String("namespace", "frontdesk-system", "release namespace")
	kinds := fs.String("kinds", "", "comma-separated kinds to print (empty: every object)")
	var valueFiles files
	fs.Var(&valueFiles, "f", "a values file, merged over the chart's values.yaml in order (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: values come with -f", fs.Args())
	}
	vals := map[string]any{}
	for _, f := range valueFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("values file %s: %w", f, err)
		}
		vals = util.MergeTables(v, vals)
	}
	ch, err := loader.Load(*chartDir)
	if err != nil {
		return fmt.Errorf("loading the chart from %s: %w", *chartDir, err)
	}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals,
		common.ReleaseOptions{Name: *release, Namespace: *namespace, Revision: 1, IsInstall: true},
		common.DefaultCapabilities, false)
	if err != nil {
		return err
	}
	rendered, err := engine.Render(ch, top)
	if err != nil {
		return err
	}
	var want []string
	if *kinds != "" {
		want = strings.Split(*kinds, ",")
	}
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		if path.Ext(name) == ".yaml" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		docs, err := split(rendered[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, d := range docs {
			kind, _ := d["kind"].(string)
			if want != nil && !slices.Contains(want, kind) {
				continue
			}
			b, err := yaml.Marshal(d)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(out, "---\n# Source: %s\n%s", name, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// split decodes a template's output into its objects, dropping empty documents (a template whose
// condition was false).
func split(doc string) ([]map[string]any, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096)
	var out []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) > 0 {
			out = append(out, m)
		}
	}
}
