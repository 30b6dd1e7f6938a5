// Package metricsdoc finds every Prometheus metric frontdesk defines by reading the source, checks
// the names, units, labels and stability levels against Prometheus' and Kubernetes' conventions,
// and renders docs/metrics.md. Reading the source rather than a registry finds the vectors that
// have no series yet and the metrics of code paths a test does not start; a definition it cannot
// read (options that are not a literal, a name that is not a constant) is an error, never skipped.
package metricsdoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The two packages whose constructors define metrics: Kubernetes' wrapper (stability levels) and
// the Prometheus client itself.
const (
	componentBase = "k8s.io/component-base/metrics"
	clientGolang  = "github.com/prometheus/client_golang/prometheus"
)

// Metric is one metric definition as written in the source.
type Metric struct {
	Name        string   // the full name: namespace_subsystem_name
	Kind        string   // counter, gauge, histogram or summary
	Help        string   //
	Labels      []string // the variable labels of a vector, in order
	ConstLabels []string // the constant labels' names, sorted
	Stability   string   // ALPHA, BETA, STABLE, INTERNAL; "" when the definition sets none
	Package     string   // the package's directory relative to the module root, with /
	Pos         string   // file:line of the definition, relative to the module root
}

var constructor = regexp.MustCompile(`^New(Counter|Gauge|Histogram|Summary)(Vec|Func)?$`)

// Find reads every non-test Go file of the module at root (nested modules, testdata and hidden
// folders left out) and returns the metrics they define, sorted by name.
func Find(root string) ([]Metric, error) {
	dirs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "bin") {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = append(dirs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Metric
	var errs []string
	for dir, files := range dirs {
		ms, err := findInPackage(root, dir, files)
		if err != nil {
			errs = append(errs, err.Error())
		}
		out = append(out, ms...)
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	slices.SortFunc(out, func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// pkgReader holds one package's parsed files and its package-level string constants.
type pkgReader struct {
	root   string
	fset   *token.FileSet
	consts map[string]ast.Expr
	errs   []string
}

func findInPackage(root, dir string, files []string) ([]Metric, error) {
	r := &pkgReader{root: root, fset: token.NewFileSet(), consts: map[string]ast.Expr{}}
	var parsed []*ast.File
	for _, f := range files {
		af, err := parser.ParseFile(r.fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, af)
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						r.consts[n.Name] = vs.Values[i]
					}
				}
			}
		}
	}
	rel, _ := filepath.Rel(root, dir)
	var out []Metric
	for _, af := range parsed {
		imports := map[string]string{} // local name → one of the two packages
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path != componentBase && path != clientGolang {
				continue
			}
			name := filepath.Base(path)
			if imp.Name != nil {
				name = imp.Name.Name
			}
			imports[name] = path
		}
		if len(imports) == 0 {
			continue
		}
		inCall := map[*ast.CompositeLit]bool{}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			pkg, fn, ok := selector(call.Fun, imports)
			if !ok || !constructor.MatchString(fn) || len(call.Args) == 0 {
				return true
			}
			lit := compositeLit(call.Args[0])
			if lit == nil {
				r.errorf(call.Pos(), "%s.%s: the options are not a literal, so the metric cannot be read from the source", filepath.Base(pkg), fn)
				return true
			}
			inCall[lit] = true
			m := r.metric(lit, pkg, fn)
			if strings.HasSuffix(fn, "Vec") && len(call.Args) > 1 {
				m.Labels = r.strings(call.Args[1])
			}
			m.Package = filepath.ToSlash(rel)
			m.Pos = r.pos(call.Pos())
			out = append(out, m)
			return true
		})
		// Options built anywhere but in a constructor's call would define a metric this package
		// cannot see: refuse them rather than leave the metric out of the document.
		ast.Inspect(af, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || inCall[lit] {
				return true
			}
			if _, typ, ok := selector(lit.Type, imports); ok && strings.HasSuffix(typ, "Opts") {
				r.errorf(lit.Pos(), "%s literal outside a New… call: define the metric where its options are written", typ)
			}
			return true
		})
	}
	if len(r.errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(r.errs, "\n"))
	}
	return out, nil
}

// metric reads the fields of an options literal.
func (r *pkgReader) metric(lit *ast.CompositeLit, pkg, fn string) Metric {
	m := Metric{Kind: strings.ToLower(constructor.FindStringSubmatch(fn)[1])}
	var ns, sub, name string
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			r.errorf(el.Pos(), "options without field names cannot be read")
			continue
		}
		key, _ := kv.Key.(*ast.Ident)
		if key == nil {
			continue
		}
		switch key.Name {
		case "Namespace":
			ns = r.str(kv.Value)
		case "Subsystem":
			sub = r.str(kv.Value)
		case "Name":
			name = r.str(kv.Value)
		case "Help":
			m.Help = r.str(kv.Value)
		case "StabilityLevel":
			if s, ok := kv.Value.(*ast.SelectorExpr); ok {
				m.Stability = s.Sel.Name
			} else {
				r.errorf(kv.Value.Pos(), "StabilityLevel: write one of the package's constants (metrics.ALPHA, …)")
			}
		case "ConstLabels":
			if cl := compositeLit(kv.Value); cl != nil {
				for _, e := range cl.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						m.ConstLabels = append(m.ConstLabels, r.str(kv.Key))
					}
				}
				slices.Sort(m.ConstLabels)
			} else {
				r.errorf(kv.Value.Pos(), "ConstLabels: write a map literal so the label names can be read")
			}
		}
	}
	var parts []string
	for _, p := range []string{ns, sub, name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	m.Name = strings.Join(parts, "_")
	if name == "" {
		r.errorf(lit.Pos(), "a metric without a Name")
	}
	return m
}

// str evaluates a constant string expression: literals, + and the package's own constants.
func (r *pkgReader) str(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			if err == nil {
				return s
			}
		}
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return r.str(e.X) + r.str(e.Y)
		}
	case *ast.ParenExpr:
		return r.str(e.X)
	case *ast.Ident:
		if v, ok := r.consts[e.Name]; ok {
			return r.str(v)
		}
	}
	r.errorf(e.Pos(), "not a constant string: metricsdoc reads literals, + and the package's constants")
	return ""
}

func (r *pkgReader) strings(e ast.Expr) []string {
	lit := compositeLit(e)
	if lit == nil {
		r.errorf(e.Pos(), "the label names are not a literal []string")
		return nil
	}
	var out []string
	for _, el := range lit.Elts {
		out = append(out, r.str(el))
	}
	return out
}

func (r *pkgReader) pos(p token.Pos) string {
	pos := r.fset.Position(p)
	rel, err := filepath.Rel(r.root, pos.Filename)
	if err != nil {
		rel = pos.Filename
	}
	return fmt.Sprintf("%s:%d", filepath.ToSlash(rel), pos.Line)
}

func (r *pkgReader) errorf(p token.Pos, format string, args ...any) {
	r.errs = append(r.errs, r.pos(p)+": "+fmt.Sprintf(format, args...))
}

// selector reports whether e is pkg.Name with pkg one of the imported metric packages.
func selector(e ast.Expr, imports map[string]string) (pkg, name string, ok bool) {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", "", false
	}
	x, ok := s.X.(*ast.Ident)
	if !ok {
		return "", "", false
	}
	pkg, ok = imports[x.Name]
	return pkg, s.Sel.Name, ok
}

func compositeLit(e ast.Expr) *ast.CompositeLit {
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
		e = u.X
	}
	lit, _ := e.(*ast.CompositeLit)
	return lit
}
