package awsapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Limit is a token bucket: QPS refill, Burst size.
type Limit struct {
	QPS   float64
	Burst int
}

// Limits map "<service ID>" or "<service ID>/<operation>" to a bucket. An
// operation with its own entry draws from both: AWS counts it against the
// service's budget too.
type Limits map[string]Limit

// DefaultLimits stay inside AWS's published budgets: ELBv2's Describe bucket
// holds 40 tokens and refills 10/s (EC2's: 100 and 20/s), and
// aws-load-balancer-controller paces Register/DeregisterTargets at 4/s,
// burst 20. Our buckets refill at AWS's rate but hold 10% fewer tokens: with
// equal buckets, a request that leaves after another but reaches AWS first
// meets an empty bucket (the 200-Service burst at AWS's real rates saw one
// such throttle), and the account's other clients share the budget too.
func DefaultLimits() Limits {
	return Limits{
		"Elastic Load Balancing v2":                                  {QPS: 10, Burst: 36},
		"Elastic Load Balancing v2/RegisterTargets":                  {QPS: 4, Burst: 20},
		"Elastic Load Balancing v2/DeregisterTargets":                {QPS: 4, Burst: 20},
		"Elastic Load Balancing":                                     {QPS: 10, Burst: 36},
		"Elastic Load Balancing/RegisterInstancesWithLoadBalancer":   {QPS: 4, Burst: 20},
		"Elastic Load Balancing/DeregisterInstancesFromLoadBalancer": {QPS: 4, Burst: 20},
		"EC2": {QPS: 20, Burst: 90},
		// Only the sweep (a few pages per pass) and the lookup of a
		// Service whose annotations do not parse call it; AWS publishes no
		// figure we could check, so a small bucket.
		"Resource Groups Tagging API": {QPS: 5, Burst: 10},
	}
}

// throttleCodes are the error codes AWS uses for "slow down".
var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	"TooManyRequestsException": true, "RequestThrottled": true, "SlowDown": true,
	"ThrottledException": true, // the Tagging API's
}

// IsThrottle reports whether err is AWS asking us to slow down.
func IsThrottle(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]
}

// PermissionError is a call that IAM refused: Action is what to grant.
type PermissionError struct {
	Action string // e.g. elasticloadbalancing:CreateLoadBalancer
	Err    error
}

func (e *PermissionError) Error() string { return fmt.Sprintf("%s: %v", e.Advice(), e.Err) }

// Advice says what to grant, without AWS's message (which names the
// account and the controller's role): the words a Service's Event shows.
func (e *PermissionError) Advice() string {
	return fmt.Sprintf("missing IAM permission %s (grant it to the controller's role)", e.Action)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// pacer is shared by every client of one provider: it is what makes the
// budget process-wide.
type pacer struct {
	base, max time.Duration

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	limits   Limits
	pauses   map[string]*pause // by service ID
}

type pause struct {
	until time.Time
	next  time.Duration
}

func newPacer(l Limits, base, max time.Duration) *pacer {
	return &pacer{base: base, max: max, limits: l, limiters: map[string]*rate.Limiter{}, pauses: map[string]*pause{}}
}

func (p *pacer) install(s *middleware.Stack) error {
	// Per attempt (after the SDK's retry middleware): wait for the budget,
	// count, and note throttling.
	if err := s.Finalize.Insert(middleware.FinalizeMiddlewareFunc("FrontdeskPacer", p.attempt), "Retry", middleware.After); err != nil {
		return err
	}
	// Per call: name the IAM action on a refusal.
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("FrontdeskPermissions", permissions), middleware.Before)
}

func (p *pacer) attempt(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	svc, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	if err := p.wait(ctx, svc, op); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, err
	}
	start := time.Now()
	out, md, err := next.HandleFinalize(ctx, in)
	observe(svc, op, err, time.Since(start))
	if IsThrottle(err) {
		p.throttled(svc)
	} else if err == nil {
		p.recovered(svc)
	}
	return out, md, err
}

func (p *pacer) wait(ctx context.Context, svc, op string) error {
	p.mu.Lock()
	var until time.Time
	if ps := p.pauses[svc]; ps != nil {
		until = ps.until
	}
	lims := p.limitersFor(svc, op)
	p.mu.Unlock()
	if d := time.Until(until); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	for _, lim := range lims {
		if err := lim.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// limitersFor returns the buckets op draws from, its own first; p.mu is held.
func (p *pacer) limitersFor(svc, op string) []*rate.Limiter {
	var out []*rate.Limiter
	for _, key := range []string{svc + "/" + op, svc} {
		l, ok := p.limits[key]
		if !ok {
			continue
		}
		lim := p.limiters[key]
		if lim == nil {
			lim = rate.NewLimiter(rate.Limit(l.QPS), l.Burst)
			p.limiters[key] = lim
		}
		out = append(out, lim)
	}
	return out
}

// throttled pauses every call to svc, doubling the pause up to max while AWS
// keeps throttling: one reconcile's throttle slows all of them down, which is
// what AWS's shared account budget needs.
func (p *pacer) throttled(svc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.pauses[svc]
	if ps == nil {
		ps = &pause{next: p.base}
		p.pauses[svc] = ps
	}
	ps.until = time.Now().Add(ps.next)
	ps.next = min(2*ps.next, p.max)
}

func (p *pacer) recovered(svc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps := p.pauses[svc]; ps != nil && time.Now().After(ps.until) {
		delete(p.pauses, svc)
	}
}

// permissions turns AccessDenied and UnauthorizedOperation into a
// PermissionError naming the IAM action.
func permissions(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleInitialize(ctx, in)
	var ae smithy.APIError
	if err != nil && errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
			prefix := "elasticloadbalancing"
			switch id := awsmiddleware.GetServiceID(ctx); {
			case strings.EqualFold(id, "EC2"):
				prefix = "ec2"
			case strings.EqualFold(id, "Resource Groups Tagging API"):
				prefix = "tag"
			}
			err = &PermissionError{Action: prefix + ":" + awsmiddleware.GetOperationName(ctx), Err: err}
		}
	}
	return out, md, err
}
