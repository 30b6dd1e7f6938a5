package awsapi

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	calls = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "aws", Name: "api_requests_total",
		Help:           "HTTP requests to AWS APIs (each retry counts), by service, operation and whether it changes anything.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"service", "operation", "mutating"})
	callErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "aws", Name: "api_errors_total",
		Help:           "AWS API requests that failed, by service, operation and error code.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"service", "operation", "code"})
	throttles = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "aws", Name: "api_throttles_total",
		Help:           "AWS API requests that AWS throttled, by service and operation.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"service", "operation"})
	latency = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace: "frontdesk", Subsystem: "aws", Name: "api_request_duration_seconds",
		Help:           "Duration of one AWS API request, by service and operation.",
		Buckets:        metrics.ExponentialBuckets(0.005, 2, 12),
		StabilityLevel: metrics.ALPHA,
	}, []string{"service", "operation"})
	registerOnce sync.Once
)

// RegisterMetrics adds the AWS API metrics to the legacy registry (served on /metrics).
func RegisterMetrics() {
	registerOnce.Do(func() { legacyregistry.MustRegister(calls, callErrors, throttles, latency) })
}

// Mutating reports whether an operation can change AWS state.
func Mutating(op string) bool {
	return !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "List") && !strings.HasPrefix(op, "Get")
}

func observe(svc, op string, err error, d time.Duration) {
	mut := "false"
	if Mutating(op) {
		mut = "true"
	}
	calls.WithLabelValues(svc, op, mut).Inc()
	latency.WithLabelValues(svc, op).Observe(d.Seconds())
	if err == nil {
		return
	}
	code := "other"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	callErrors.WithLabelValues(svc, op, code).Inc()
	if throttleCodes[code] {
		throttles.WithLabelValues(svc, op).Inc()
	}
}
