package fakeaws

import (
	"time"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	region      string
	account     string
	now         func() time.Time
	provision   time.Duration
	hiddenCalls int
	hiddenFor   time.Duration
	rateLimits  map[Service]rateLimit
	limits      Limits
}

type rateLimit struct {
	burst     int
	perSecond float64
}

// Limits are the per-account quotas the fake enforces. Zero fields take the
// AWS default quoted in DefaultLimits.
type Limits struct {
	LoadBalancers        int // ELBv2 load balancers per region (TooManyLoadBalancers)
	TargetGroups         int // ELBv2 target groups per region (TooManyTargetGroups)
	ListenersPerLB       int // ELBv2 listeners per load balancer (TooManyListeners)
	TargetsPerTargetGrp  int // ELBv2 registered targets per target group (TooManyTargets)
	TagsPerResource      int // tags per ELB, ELBv2 or EC2 resource (TooManyTags / TagLimitExceeded)
	ClassicLoadBalancers int // Classic load balancers per region (TooManyLoadBalancers)
	SecurityGroups       int // security groups per VPC (SecurityGroupLimitExceeded)
	RulesPerSecurityGrp  int // ingress rules (one per CIDR or group reference) per group (RulesPerSecurityGroupLimitExceeded)
}

// DefaultLimits are the AWS default quotas.
var DefaultLimits = Limits{
	LoadBalancers:        50,
	TargetGroups:         3000,
	ListenersPerLB:       50,
	TargetsPerTargetGrp:  1000,
	TagsPerResource:      50,
	ClassicLoadBalancers: 20,
	SecurityGroups:       2500,
	RulesPerSecurityGrp:  60,
}

func defaultConfig() config {
	return config{
		region:     "us-east-1",
		account:    "123456789012",
		now:        time.Now,
		rateLimits: map[Service]rateLimit{},
		limits:     DefaultLimits,
	}
}

// WithRegion sets the region used in ARNs, DNS names and zones
// (default us-east-1).
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithAccount sets the 12-digit account ID used in ARNs and owner fields
// (default 123456789012).
func WithAccount(id string) Option { return func(c *config) { c.account = id } }

// WithClock replaces time.Now, for tests that step time through the
// provisioning delay, the eventual-consistency window or the rate limit.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithProvisioningDelay keeps new ELBv2 load balancers in state
// "provisioning" for d before they turn "active" (default 0: active at the
// first Describe).
func WithProvisioningDelay(d time.Duration) Option {
	return func(c *config) { c.provision = d }
}

// WithEventualConsistency hides resources created through the API from
// Describe calls for the next calls requests and until d has passed,
// whichever is later: AWS's read-after-create gap. Describing such a
// resource by ID fails with its NotFound error; lists omit it.
func WithEventualConsistency(calls int, d time.Duration) Option {
	return func(c *config) { c.hiddenCalls, c.hiddenFor = calls, d }
}

// WithRateLimit adds a token bucket for one service: burst requests at
// once, refilled at perSecond. Requests beyond it fail with the service's
// throttling error, which the SDK's standard retryer retries. AWSRateLimits
// sets AWS's published figures for all three.
func WithRateLimit(svc Service, burst int, perSecond float64) Option {
	return func(c *config) { c.rateLimits[svc] = rateLimit{burst, perSecond} }
}

// AWSRateLimits models the documented API request rates: ELBv2 and Classic
// ELB about 10 requests/s with a burst of 40, EC2's non-mutating bucket 100
// burst refilled at 20/s.
func AWSRateLimits() Option {
	return func(c *config) {
		c.rateLimits[ELBv2] = rateLimit{40, 10}
		c.rateLimits[ELB] = rateLimit{40, 10}
		c.rateLimits[EC2] = rateLimit{100, 20}
	}
}

// WithLimits overrides quotas; zero fields keep the default.
func WithLimits(l Limits) Option {
	return func(c *config) {
		set := func(dst *int, v int) {
			if v > 0 {
				*dst = v
			}
		}
		set(&c.limits.LoadBalancers, l.LoadBalancers)
		set(&c.limits.TargetGroups, l.TargetGroups)
		set(&c.limits.ListenersPerLB, l.ListenersPerLB)
		set(&c.limits.TargetsPerTargetGrp, l.TargetsPerTargetGrp)
		set(&c.limits.TagsPerResource, l.TagsPerResource)
		set(&c.limits.ClassicLoadBalancers, l.ClassicLoadBalancers)
		set(&c.limits.SecurityGroups, l.SecurityGroups)
		set(&c.limits.RulesPerSecurityGrp, l.RulesPerSecurityGrp)
	}
}
