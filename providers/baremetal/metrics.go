package baremetal

import (
	"errors"
	"math/big"
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/controller/service"
)

// Metrics are registered in the legacy registry, which the cloud-controller-manager serves on
// /metrics. Label values are bounded: pools are admin-defined, reasons a fixed set.
var (
	poolCapacity = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "ippool", Name: "capacity_addresses",
		Help:           "Addresses an IPPool can hand out, per family (IPv6 pools beyond 2^53 lose precision).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"pool", "family"})
	poolAssigned = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "ippool", Name: "assigned_addresses",
		Help:           "Addresses of an IPPool held by Services, per family (a shared address counts once).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"pool", "family"})
	allocationsTotal = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "ipam", Name: "allocations_total",
		Help:           "Addresses newly given to a Service, per pool.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"pool"})
	allocationFailures = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "ipam", Name: "allocation_failures_total",
		Help:           "Load-balancer address requests that failed, by reason: invalid_request, no_pool, full, conflict, claimed_elsewhere, api_error.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})

	registerOnce sync.Once
)

type recorder struct{}

func newRecorder() *recorder {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(poolCapacity, poolAssigned, allocationsTotal, allocationFailures)
	})
	return &recorder{}
}

func (*recorder) allocated(pool string) { allocationsTotal.WithLabelValues(pool).Inc() }

func (*recorder) failure(err error) { allocationFailures.WithLabelValues(classify(err).label).Inc() }

// failure is a kind of error an address request can meet, named twice: as the
// allocation_failures_total label and as the reason of the Service's LoadBalancerReady condition.
type failure struct{ label, reason string }

var (
	failInvalid  = failure{"invalid_request", "InvalidRequest"}
	failNoPool   = failure{"no_pool", "NoPool"}
	failFull     = failure{"full", "PoolExhausted"}
	failClaimed  = failure{"claimed_elsewhere", "AddressClaimedElsewhere"}
	failConflict = failure{"conflict", "AddressInUse"}
	failAPI      = failure{"api_error", service.ReasonSyncFailed}
)

func classify(err error) failure {
	var (
		ae *AnnotationError
		ir *allocator.ErrInvalidRequest
		ce *ClaimedError
		np *noPoolError
		nr *allocator.ErrNotInRange
	)
	switch {
	case errors.As(err, &ae), errors.As(err, &ir), errors.As(err, &nr):
		return failInvalid
	case errors.As(err, &np):
		return failNoPool
	case errors.Is(err, allocator.ErrFull):
		return failFull
	case errors.As(err, &ce):
		return failClaimed
	case errors.Is(err, allocator.ErrAllocated):
		return failConflict
	}
	return failAPI
}

// observePools sets the pool gauges, dropping series of pools that are gone.
func (*recorder) observePools(stats []allocator.PoolStats) {
	poolCapacity.Reset()
	poolAssigned.Reset()
	for _, s := range stats {
		c, _ := new(big.Float).SetInt(s.Capacity).Float64()
		poolCapacity.WithLabelValues(s.Pool, string(s.Family)).Set(c)
		poolAssigned.WithLabelValues(s.Pool, string(s.Family)).Set(float64(s.Assigned))
	}
}
