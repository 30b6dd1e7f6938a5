package service

import (
	"strconv"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// versionedTracker stamps every object it stores with a growing resourceVersion, as the API server
// does. client-go's fake tracker leaves resourceVersion empty, and an empty version hides the
// informer's lag behind the controller's own writes (see cacheBehind): a test would then see
// Ensure calls the controller never makes against a real API server.
type versionedTracker struct {
	clienttesting.ObjectTracker
	last atomic.Int64
}

func (t *versionedTracker) stamp(obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(strconv.FormatInt(t.last.Add(1), 10))
	return nil
}

func (t *versionedTracker) Add(obj runtime.Object) error {
	obj = obj.DeepCopyObject() // the caller's fixture stays as written
	if err := t.stamp(obj); err != nil {
		return err
	}
	return t.ObjectTracker.Add(obj)
}

func (t *versionedTracker) Create(gvr schema.GroupVersionResource, obj runtime.Object, ns string, opts ...metav1.CreateOptions) error {
	if err := t.stamp(obj); err != nil {
		return err
	}
	return t.ObjectTracker.Create(gvr, obj, ns, opts...)
}

func (t *versionedTracker) Update(gvr schema.GroupVersionResource, obj runtime.Object, ns string, opts ...metav1.UpdateOptions) error {
	if err := t.stamp(obj); err != nil {
		return err
	}
	return t.ObjectTracker.Update(gvr, obj, ns, opts...)
}

func (t *versionedTracker) Patch(gvr schema.GroupVersionResource, obj runtime.Object, ns string, opts ...metav1.PatchOptions) error {
	if err := t.stamp(obj); err != nil {
		return err
	}
	return t.ObjectTracker.Patch(gvr, obj, ns, opts...)
}

// newVersionedClientset is fake.NewClientset holding objs, whose writes carry resource versions.
// Watches still come from the fake's own tracker, which the versioned one writes through.
func newVersionedClientset(objs ...runtime.Object) *fake.Clientset {
	client := fake.NewClientset()
	t := &versionedTracker{ObjectTracker: client.Tracker()}
	for _, obj := range objs {
		if err := t.Add(obj); err != nil {
			panic(err)
		}
	}
	client.PrependReactor("*", "*", clienttesting.ObjectReaction(t))
	return client
}
