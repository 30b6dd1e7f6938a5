package fakeaws

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// Action patterns used by Throttle, Fail and Deny are either a bare action
// name ("DescribeLoadBalancers", matching it in every API that has it) or
// qualified by the Service ("elbv2:DescribeLoadBalancers",
// "elb:DescribeLoadBalancers", "ec2:DescribeInstances") or by the IAM
// prefix ("elasticloadbalancing:CreateListener" matches ELB and ELBv2).
// "*" matches every action.
func matches(pattern string, svc Service, action string) bool {
	if pattern == "*" {
		return true
	}
	prefix, name, qualified := strings.Cut(pattern, ":")
	if !qualified {
		return pattern == action
	}
	if name != action && name != "*" {
		return false
	}
	return prefix == string(svc) || prefix == svc.iamPrefix()
}

type fault struct {
	pattern string
	left    int
	err     *APIError // nil: the service's throttling error
}

// Throttle makes the next n calls matching action fail with the service's
// throttling error: EC2 "RequestLimitExceeded" (HTTP 503), ELB and ELBv2
// "Throttling" (HTTP 400). The SDK's standard retryer retries both, so a
// retried call counts once per attempt.
func (s *Server) Throttle(action string, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pattern: action, left: n})
}

// Fail makes the next n calls matching action fail with code and HTTP
// status, before the action runs.
func (s *Server) Fail(action string, n int, code string, status int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pattern: action, left: n,
		err: &APIError{Code: code, Message: "injected by fakeaws.Fail", Status: status}})
}

// FailAt makes the call that will have index callIndex in Calls() fail with
// err: an *APIError is returned on the wire as is, ErrDropConnection and
// ErrDropResponse cut the connection, any other error becomes a 500
// InternalError.
func (s *Server) FailAt(callIndex int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAt[callIndex] = err
}

// OnCall registers a hook run for every call before the action executes,
// after Deny, Throttle, Fail, FailAt and the rate limit let it through. A
// non-nil return fails the call as FailAt does. Hooks run without the fake's
// lock, so they may call Resources or Calls.
func (s *Server) OnCall(hook func(Call) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, hook)
}

// Deny makes every call matching action fail as an IAM denial would: EC2
// "UnauthorizedOperation", ELB/ELBv2 "AccessDenied", both HTTP 403 and
// naming the IAM action.
func (s *Server) Deny(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[action] = true
}

// Allow lifts a Deny.
func (s *Server) Allow(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.denied, action)
}

func throttleErr(svc Service) *APIError {
	switch svc {
	case EC2:
		return apiErr(http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
	case Tagging:
		return apiErr(http.StatusBadRequest, "ThrottledException", "Rate exceeded")
	}
	return apiErr(http.StatusBadRequest, "Throttling", "Rate exceeded")
}

// injectedLocked decides whether call fails before reaching its handler.
// The order follows AWS: the request rate is checked first, then IAM, then
// the test's scripted faults.
func (s *Server) injectedLocked(c Call) error {
	if b := s.buckets[c.Service]; b != nil && !b.take(s.cfg.now()) {
		return throttleErr(c.Service)
	}
	for p := range s.denied {
		if matches(p, c.Service, c.Action) {
			arn := "arn:aws:iam::" + s.cfg.account + ":user/fakeaws"
			act := c.Service.iamPrefix() + ":" + c.Action
			switch c.Service {
			case EC2:
				return apiErr(http.StatusForbidden, "UnauthorizedOperation",
					"You are not authorized to perform this operation. User: %s is not authorized to perform: %s", arn, act)
			case Tagging:
				return apiErr(http.StatusBadRequest, "AccessDeniedException",
					"User: %s is not authorized to perform: %s", arn, act)
			}
			return apiErr(http.StatusForbidden, "AccessDenied",
				"User: %s is not authorized to perform: %s", arn, act)
		}
	}
	if err, ok := s.failAt[c.Index]; ok {
		delete(s.failAt, c.Index)
		return err
	}
	for i, f := range s.faults {
		if !matches(f.pattern, c.Service, c.Action) {
			continue
		}
		f.left--
		if f.left <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		if f.err == nil {
			return throttleErr(c.Service)
		}
		e := *f.err
		return &e
	}
	return nil
}

// bucket is a token bucket: AWS meters API requests this way per account,
// per region and per action class.
type bucket struct {
	burst, rate, tokens float64
	last                time.Time
}

func (b *bucket) take(now time.Time) bool {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+el*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
