package fakeaws

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
)

// APIError is an error the fake returns on the wire. Code is the AWS error
// code the SDK decodes (for ELBv2 "LoadBalancerNotFound" becomes
// *types.LoadBalancerNotFoundException), Status the HTTP status.
type APIError struct {
	Code    string
	Message string
	Status  int
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// Sentinel errors an OnCall hook or FailAt may return to simulate transport
// failures instead of API errors.
var (
	// ErrDropConnection closes the connection before the action runs: the
	// client sees a transport error and nothing changed.
	ErrDropConnection = errors.New("fakeaws: drop the connection before the action runs")
	// ErrDropResponse runs the action, then closes the connection without a
	// response: the change happened but the client cannot know, the classic
	// ambiguous outcome a reconcile loop must survive.
	ErrDropResponse = errors.New("fakeaws: run the action, then drop the connection")
)

func apiErr(status int, code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func validation(format string, args ...any) *APIError {
	return apiErr(http.StatusBadRequest, "ValidationError", format, args...)
}

// ec2Invalid builds the EC2 family of 400 errors ("InvalidParameterValue",
// "InvalidSubnetID.NotFound", ...).
func ec2Invalid(code, format string, args ...any) *APIError {
	return apiErr(http.StatusBadRequest, code, format, args...)
}

// asAPIError turns whatever a handler or hook returned into the wire error;
// a plain Go error becomes a 500 InternalError so it is loud in tests.
func asAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return apiErr(http.StatusInternalServerError, "InternalError", "%v", err)
}

// writeError renders the error envelope of the service: EC2 uses
// <Response><Errors><Error>, the ELB APIs <ErrorResponse><Error> with a
// Type of Sender or Receiver.
func writeError(w http.ResponseWriter, svc Service, reqID string, e *APIError) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	if svc == EC2 {
		el("Response",
			el("Errors", el("Error", leaf("Code", e.Code), leaf("Message", e.Message))),
			leaf("RequestID", reqID),
		).write(&b)
	} else {
		typ := "Sender"
		if e.Status >= 500 {
			typ = "Receiver"
		}
		root := el("ErrorResponse",
			el("Error", leaf("Type", typ), leaf("Code", e.Code), leaf("Message", e.Message)),
			leaf("RequestId", reqID),
		)
		root.name = `ErrorResponse xmlns="` + svc.namespace() + `"`
		writeRootWithNS(&b, root, "ErrorResponse")
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(e.Status)
	_, _ = w.Write(b.Bytes())
}

// writeRootWithNS writes root whose name carries an xmlns attribute, closing
// it with the bare element name.
func writeRootWithNS(b *bytes.Buffer, root *node, bare string) {
	b.WriteString("<" + root.name + ">")
	for _, k := range root.kids {
		k.write(b)
	}
	b.WriteString("</" + bare + ">")
}
