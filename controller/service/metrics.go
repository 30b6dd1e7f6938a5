package service

import (
	"errors"
	"sync"
	"time"

	"k8s.io/cloud-provider/api"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// Metrics live in the legacy registry, which the cloud-controller-manager
// serves on /metrics. Queue depth, latency and retries come from the
// workqueue metrics (queue names "service" and "service_nodes") that the
// controller manager enables.
const (
	metricsNamespace = "frontdesk"
	metricsSubsystem = "service_controller"
)

// Results of one sync, the "result" label.
const (
	resultSuccess = "success"
	resultError   = "error"
	resultRetry   = "retry" // the provider returned api.RetryError
)

var (
	syncDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace: metricsNamespace,
		Subsystem: metricsSubsystem,
		Name:      "sync_duration_seconds",
		Help: "Time to sync one Service, by what was asked of the provider " +
			"(none, ensure, update, delete) and result (success, error, retry).",
		// 1 ms (nothing to do) to about 65 s (a cloud load balancer being created).
		Buckets:        metrics.ExponentialBuckets(0.001, 2, 17),
		StabilityLevel: metrics.ALPHA,
	}, []string{"operation", "result"})

	syncErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: metricsNamespace,
		Subsystem: metricsSubsystem,
		Name:      "sync_errors_total",
		Help: "Failed sync steps, by step: ensure, update, delete (the provider failed), " +
			"finalizer, status (the API server refused a patch), nodes.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})

	loadBalancers = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      metricsNamespace,
		Subsystem:      metricsSubsystem,
		Name:           "load_balancers",
		Help:           "Services whose load balancer this controller has ensured and now tracks.",
		StabilityLevel: metrics.ALPHA,
	})

	loadBalancerConditions = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace:      metricsNamespace,
		Subsystem:      metricsSubsystem,
		Name:           "load_balancer_conditions",
		Help:           "Services this controller serves, by the status (True, False, Unknown) and reason of their frontdesk.dev/LoadBalancerReady condition.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"status", "reason"})

	registerOnce sync.Once
)

func registerMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(syncDuration, syncErrors, loadBalancers, loadBalancerConditions)
	})
}

func observeSync(op operation, err error, elapsed time.Duration) {
	result := resultSuccess
	var retry *api.RetryError
	switch {
	case errors.As(err, &retry):
		result = resultRetry
	case err != nil:
		result = resultError
	}
	syncDuration.WithLabelValues(string(op), result).Observe(elapsed.Seconds())
}
