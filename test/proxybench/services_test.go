//go:build netns && integration

package proxybench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const (
	namespace = "default"
	// workers bounds the parallel creations: enough to keep the API server busy, few enough not
	// to starve the proxies on a 2-core machine.
	workers = 8
)

func serviceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// progress prints to stderr at once (a benchmark's log is only shown at its end).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s proxybench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// createServices creates Services [from, to) with an EndpointSlice of two ready endpoints each,
// with `workers` creations in flight, and records their ClusterIPs.
func (e *env) createServices(ctx context.Context, from, to int) {
	e.t.Helper()
	e.mu.Lock()
	for len(e.clusterIPs) < to {
		e.clusterIPs = append(e.clusterIPs, netip.Addr{})
	}
	e.mu.Unlock()
	next := atomic.Int64{}
	next.Store(int64(from))
	var done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				ip, err := e.createService(ctx, i)
				if err == nil {
					err = e.createSlice(ctx, i)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				e.mu.Lock()
				e.clusterIPs[i] = ip
				e.mu.Unlock()
				if n := done.Add(1); n%1000 == 0 {
					progress("%d/%d Services created (%.0f/s)", n, to-from, float64(n)/time.Since(began).Seconds())
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		e.t.Fatal(firstErr)
	}
	progress("%d Services and EndpointSlices created in %s", to-from, time.Since(began).Round(time.Millisecond))
}

// createService makes selector-less Service i (its endpoints come from createSlice) and
// returns its ClusterIP.
func (e *env) createService(ctx context.Context, i int) (netip.Addr, error) {
	svc, err := e.kube.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: serviceName(i)},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: servicePort,
			TargetPort: intstr.FromInt32(epPort)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("creating Service %s: %w", serviceName(i), err)
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("Service %s has ClusterIP %q: %w", serviceName(i), svc.Spec.ClusterIP, err)
	}
	return ip, nil
}

// createSlice gives Service i its two ready endpoints, one in each endpoint namespace.
func (e *env) createSlice(ctx context.Context, i int) error {
	name := serviceName(i)
	var eps []discoveryv1.Endpoint
	for side := range epRanges {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{epAddr(side, i).String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}})
	}
	_, err := e.kube.DiscoveryV1().EndpointSlices(namespace).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-bench", Labels: map[string]string{
			discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "proxybench"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](epPort)}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating the EndpointSlice of %s: %w", name, err)
	}
	return nil
}

// ips returns the ClusterIPs of Services [0, n).
func (e *env) ips(n int) []netip.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]netip.Addr(nil), e.clusterIPs[:n]...)
}
