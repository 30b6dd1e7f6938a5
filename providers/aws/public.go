package aws

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/cloud-provider/api"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
)

// PublicError is what the LoadBalancer methods return instead of an AWS
// error. The service controller puts the text of a provider's error into a
// Warning Event on the Service, which whoever may read the namespace sees;
// AWS's messages carry account IDs, ARNs, the controller's role and request
// IDs (issue 17). Error says in frontdesk's words what failed, with AWS's
// error code; the full error is in the controller's log, and Unwrap still
// reaches it (a RetryError's delay, a PermissionError's action).
type PublicError struct {
	msg string
	err error
}

func (e *PublicError) Error() string { return e.msg }
func (e *PublicError) Unwrap() error { return e.err }

// public logs err in full and returns what the Service's owner may see.
// Annotation errors go back as they are: they quote only the Service.
func public(ctx context.Context, svc *v1.Service, op string, err error) error {
	if err == nil || annotations.IsInvalid(err) {
		return err
	}
	logger := klog.FromContext(ctx).WithValues("service", klog.KObj(svc), "operation", op)
	var retry *api.RetryError
	if errors.As(err, &retry) {
		logger.V(2).Info("AWS not ready yet; retrying later", "err", err.Error())
	} else {
		logger.Error(err, "AWS load balancer call failed")
	}
	return &PublicError{msg: scrub(publicText(err)) + " (details in the controller's log)", err: err}
}

// publicText rebuilds err's message, replacing every AWS error by what
// operation failed and its code. The words frontdesk wrapped around them
// ("creating load balancer k8s-…: %w") are kept: fmt.Errorf's ": %w" puts
// the wrapped text last, so a wrapper's own words are its text minus the
// wrapped error's.
func publicText(err error) string {
	// This level of the chain only: the wrappers above it were taken apart
	// by the caller, the ones below are taken apart by the recursion.
	switch e := err.(type) { //nolint:errorlint // one level at a time, see above
	case *smithy.OperationError:
		var pe *awsapi.PermissionError
		if errors.As(e.Err, &pe) {
			return pe.Advice()
		}
		return fmt.Sprintf("AWS %s %s failed: %s", e.ServiceID, e.OperationName, code(e.Err))
	case *awsapi.PermissionError:
		return e.Advice()
	}
	if api, ok := err.(smithy.APIError); ok { //nolint:errorlint // this level only, as above
		return "AWS error " + api.ErrorCode()
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var parts []string
		for _, e := range j.Unwrap() {
			parts = append(parts, publicText(e))
		}
		return strings.Join(parts, "; ")
	}
	inner := errors.Unwrap(err)
	if inner == nil {
		return err.Error() // frontdesk's own words, or an error from Kubernetes
	}
	if words, ok := strings.CutSuffix(err.Error(), inner.Error()); ok {
		return words + publicText(inner)
	}
	// A wrapper that does not end with what it wraps: say only what it holds.
	return publicText(inner)
}

// code is AWS's error code, or what kind of failure left none.
func code(err error) string {
	switch c := errorCode(err); {
	case c != "":
		return c
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "no answer from AWS"
}

var (
	arnRE     = regexp.MustCompile(`arn:aws[a-z-]*:[^\s,;)"']*`)
	accountRE = regexp.MustCompile(`\b\d{12}\b`)
)

// scrub is the last guard: whatever reached the text above (an error
// from a library quoting an ARN, say), no ARN or account ID leaves.
func scrub(s string) string {
	return accountRE.ReplaceAllString(arnRE.ReplaceAllString(s, "<ARN>"), "<account>")
}
