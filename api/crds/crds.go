// Package crds reads frontdesk's CustomResourceDefinitions from the Helm chart
// (charts/frontdesk/crds, the one source) and installs them in a cluster. Tests use it to get
// the API server to serve exactly what the chart ships.
package crds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/frontdesk-lb/frontdesk/charts/frontdesk"
)

// establishTimeout bounds the wait for the API server to serve the CRDs when ctx sets no
// deadline. A single API server establishes a CRD in well under a second; a minute means
// something is wrong.
const establishTimeout = time.Minute

// pollInterval is how often Install looks at the CRDs' conditions while it waits.
const pollInterval = 100 * time.Millisecond

// All returns the chart's CRDs, in file-name order.
func All() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(frontdesk.CRDs, "crds/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(names))
	for _, name := range names {
		data, err := fs.ReadFile(frontdesk.CRDs, name)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("chart file %s: %w", path.Join("charts/frontdesk", name), err)
		}
		if crd.Kind != "CustomResourceDefinition" || crd.Name == "" {
			return nil, fmt.Errorf("chart file %s: want one CustomResourceDefinition with a name, got kind %q name %q",
				path.Join("charts/frontdesk", name), crd.Kind, crd.Name)
		}
		out = append(out, crd)
	}
	if len(out) == 0 {
		return nil, errors.New("charts/frontdesk/crds holds no CRD; run make generate")
	}
	return out, nil
}

// Install creates the chart's CRDs, or updates them to the chart's version when they exist,
// and returns once the API server serves every one of them: each is Established and a List
// of its resource succeeds.
func Install(ctx context.Context, cfg *rest.Config) error {
	all, err := All()
	if err != nil {
		return err
	}
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crdClient := client.ApiextensionsV1().CustomResourceDefinitions()
	for _, want := range all {
		if err := apply(ctx, crdClient, want); err != nil {
			return err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, establishTimeout)
		defer cancel()
	}
	for _, want := range all {
		if err := waitServed(ctx, crdClient, dyn, want); err != nil {
			return err
		}
	}
	return nil
}

type crdClient interface {
	Create(context.Context, *apiextensionsv1.CustomResourceDefinition, metav1.CreateOptions) (*apiextensionsv1.CustomResourceDefinition, error)
	Get(context.Context, string, metav1.GetOptions) (*apiextensionsv1.CustomResourceDefinition, error)
	Update(context.Context, *apiextensionsv1.CustomResourceDefinition, metav1.UpdateOptions) (*apiextensionsv1.CustomResourceDefinition, error)
}

func apply(ctx context.Context, c crdClient, want *apiextensionsv1.CustomResourceDefinition) error {
	_, err := c.Create(ctx, want.DeepCopy(), metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create CRD %s: %w", want.Name, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		have, err := c.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		upd := want.DeepCopy()
		upd.ResourceVersion = have.ResourceVersion
		_, err = c.Update(ctx, upd, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update CRD %s: %w", want.Name, err)
	}
	return nil
}

// waitServed waits for the CRD to be Established with its names accepted, then for a List of
// its served version to succeed (a CRD can be Established a moment before its handler serves).
func waitServed(ctx context.Context, c crdClient, dyn dynamic.Interface, want *apiextensionsv1.CustomResourceDefinition) error {
	var last *apiextensionsv1.CustomResourceDefinition
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		last, lastErr = c.Get(ctx, want.Name, metav1.GetOptions{})
		if lastErr != nil {
			return false, nil //nolint:nilerr // transient: keep polling until ctx ends, then report it
		}
		return condTrue(last, apiextensionsv1.Established) && condTrue(last, apiextensionsv1.NamesAccepted), nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established: %w; conditions: %s", want.Name, withLast(err, lastErr), conditions(last))
	}
	gvr := schema.GroupVersionResource{Group: want.Spec.Group, Resource: want.Spec.Names.Plural}
	for _, v := range want.Spec.Versions {
		if v.Served {
			gvr.Version = v.Name
			break
		}
	}
	err = wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		_, lastErr = dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s established but %s not served: %w", want.Name, gvr, withLast(err, lastErr))
	}
	return nil
}

// withLast adds to a timeout the last error seen while polling, which says why.
func withLast(err, last error) error {
	if last == nil {
		return err
	}
	return fmt.Errorf("%w (last error: %w)", err, last)
}

func condTrue(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == t {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

func conditions(crd *apiextensionsv1.CustomResourceDefinition) string {
	if crd == nil || len(crd.Status.Conditions) == 0 {
		return "none"
	}
	s := ""
	for i, c := range crd.Status.Conditions {
		if i > 0 {
			s += "; "
		}
		s += fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}
