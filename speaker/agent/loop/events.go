package loop

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
)

// NewEventRecorder is the speaker's one Event recorder (source Component on node), writing over
// kube until the broadcaster is shut down: the process's, shared by the loop (Config.Events) and
// the dead-node exclusion, and the tests' that run the loop without the process.
func NewEventRecorder(ctx context.Context, kube kubernetes.Interface, node string) (record.EventBroadcaster, record.EventRecorder) {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return b, b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Component, Host: node})
}

// Recorder records Events on the Services of an address.
type Recorder interface {
	// Event records on each of svcs; those deleted meanwhile are skipped.
	Event(svcs []types.NamespacedName, evType, reason, msg string)
}

// ServiceEvents is the loop's Recorder: rec's Events, on the Services found in services.
func ServiceEvents(rec record.EventRecorder, services corelisters.ServiceLister) Recorder {
	return serviceEvents{rec: rec, services: services}
}

type serviceEvents struct {
	rec      record.EventRecorder
	services corelisters.ServiceLister
}

func (e serviceEvents) Event(svcs []types.NamespacedName, evType, reason, msg string) {
	for _, s := range svcs {
		svc, err := e.services.Services(s.Namespace).Get(s.Name)
		if err != nil {
			continue // deleted meanwhile
		}
		e.rec.Event(svc, evType, reason, msg)
	}
}
