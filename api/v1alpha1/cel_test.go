package v1alpha1_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// These tests run the CRDs' CEL rules with the API server's own code (the apiextensions
// validation of a CRD, and the CEL validator of custom resources), without a server. The
// integration test checks the same against a real kube-apiserver.

func chartCRD(t testing.TB, kind string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if c.Spec.Names.Kind == kind {
			return c
		}
	}
	t.Fatalf("the chart has no CRD of kind %s", kind)
	return nil
}

// TestCRDsPassAPIServerValidation runs the validation the API server runs when a CRD is
// created: CEL rules must compile in the environment of new expressions and stay within the
// estimated cost limits, per rule and per CRD.
func TestCRDsPassAPIServerValidation(t *testing.T) {
	all, err := crds.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range all {
		t.Run(crd.Name, func(t *testing.T) {
			internal := &apiextensions.CustomResourceDefinition{}
			if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil); err != nil {
				t.Fatal(err)
			}
			// The API server fills this in on create.
			internal.Status.StoredVersions = []string{crd.Spec.Versions[0].Name}
			for _, e := range validation.ValidateCustomResourceDefinition(context.Background(), internal) {
				t.Errorf("%s", e)
			}
		})
	}
}

// celValidator evaluates one CRD's CEL rules on objects.
type celValidator struct {
	v *cel.Validator
	s *structuralschema.Structural
}

func newCELValidator(t testing.TB, kind string) *celValidator {
	t.Helper()
	crd := chartCRD(t, kind)
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
		crd.Spec.Versions[0].Schema.OpenAPIV3Schema, internal, nil); err != nil {
		t.Fatal(err)
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		t.Fatal(err)
	}
	return &celValidator{v: cel.NewValidator(s, true, celconfig.PerCallLimit), s: s}
}

// validate returns the CEL errors of obj (created when old is nil, else updated from old), each
// as "field: detail", and fails the test if the runtime cost budget ran out.
func (c *celValidator) validate(t testing.TB, obj, old runtime.Object) []string {
	t.Helper()
	var oldU any
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	if old != nil {
		if oldU, err = runtime.DefaultUnstructuredConverter.ToUnstructured(old); err != nil {
			t.Fatal(err)
		}
	}
	errs, remaining := c.v.Validate(context.Background(), nil, c.s, u, oldU, celconfig.RuntimeCELCostBudget)
	if remaining < 0 {
		t.Fatalf("CEL cost budget exceeded: %v", errs)
	}
	return errorStrings(errs)
}

// validateCost is validate for a create, also returning the CEL cost spent.
func (c *celValidator) validateCost(t testing.TB, obj runtime.Object) ([]string, int64) {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	errs, remaining := c.v.Validate(context.Background(), nil, c.s, u, nil, celconfig.RuntimeCELCostBudget)
	return errorStrings(errs), celconfig.RuntimeCELCostBudget - remaining
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func pool(addresses ...string) *v1alpha1.IPPool {
	return &v1alpha1.IPPool{
		TypeMeta: metaType("IPPool"),
		Spec:     v1alpha1.IPPoolSpec{Addresses: addresses},
	}
}

func metaType(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{Kind: kind, APIVersion: v1alpha1.SchemeGroupVersion.String()}
}

// TestCELRulesMatchSource checks that the CRDs carry the rules composed in celrules_test.go,
// and with -print-markers prints them as markers to paste into the *_types.go files.
func TestCELRulesMatchSource(t *testing.T) {
	want := composedRules()
	if *printMarkers {
		for _, r := range want {
			fmt.Printf("%s:\n%s\n", r.where, r.marker())
		}
	}
	var got []celRule
	for _, kind := range []string{"IPPool", "IPAllocation", "L2Advertisement"} {
		crd := chartCRD(t, kind)
		collectRules(crd.Spec.Versions[0].Schema.OpenAPIV3Schema, kind, false, &got)
	}
	sortRules := func(rs []celRule) {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].rule < rs[j].rule })
	}
	sortRules(want)
	sortRules(got)
	if d := cmp.Diff(want, got, cmp.AllowUnexported(celRule{})); d != "" {
		t.Errorf("CRD rules differ from celrules_test.go (-want +got); run with -print-markers:\n%s", d)
	}
}

// collectRules gathers the composed (not self == oldSelf) rules of s and below.
func collectRules(s *apiextensionsv1.JSONSchemaProps, where string, items bool, out *[]celRule) {
	for _, r := range s.XValidations {
		if r.Rule == "self == oldSelf" {
			continue
		}
		*out = append(*out, celRule{where: where, items: items, rule: r.Rule, messageExpr: r.MessageExpression,
			message: r.Message, fieldPath: r.FieldPath})
	}
	keys := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := s.Properties[k]
		w := where + " " + k
		if strings.Contains(where, " ") {
			w = where + "." + k
		}
		collectRules(&p, w, false, out)
	}
	if s.Items != nil && s.Items.Schema != nil {
		collectRules(s.Items.Schema, where+" items", true, out)
	}
}

// TestCELCostEstimates logs the API server's worst-case cost estimate of every rule, to show
// how close each is to the limits (10^7 per expression when the CRD is written, 10^6 per call
// when an object is validated; the estimate is far above the real cost of real objects).
func TestCELCostEstimates(t *testing.T) {
	for _, kind := range []string{"IPPool", "IPAllocation", "L2Advertisement"} {
		crd := chartCRD(t, kind)
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
			crd.Spec.Versions[0].Schema.OpenAPIV3Schema, internal, nil); err != nil {
			t.Fatal(err)
		}
		s, err := structuralschema.NewStructural(internal)
		if err != nil {
			t.Fatal(err)
		}
		logCosts(t, kind, s, true)
	}
}

func logCosts(t *testing.T, where string, s *structuralschema.Structural, root bool) {
	if len(s.XValidations) > 0 {
		res, err := cel.Compile(s, model.SchemaDeclType(s, root), celconfig.PerCallLimit,
			environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()), cel.NewExpressionsEnvLoader())
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Error != nil {
				t.Errorf("%s rule %d: %v", where, i, r.Error)
				continue
			}
			t.Logf("%s rule %d: estimated cost %d, message expression %d", where, i, r.MaxCost, r.MessageExpressionMaxCost)
		}
	}
	keys := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := s.Properties[k]
		logCosts(t, where+"."+k, &p, false)
	}
	if s.Items != nil {
		logCosts(t, where+"[*]", s.Items, false)
	}
}
