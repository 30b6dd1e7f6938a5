// Package fakeaws is a wire-level fake of the EC2, Elastic Load Balancing v2
// and Classic Elastic Load Balancing query APIs, stateful enough for a
// cloud controller's LoadBalancer and InstancesV2 code to run unmodified
// aws-sdk-go-v2 clients against it. See README.md for what it models.
package fakeaws

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Service names one of the APIs served.
type Service string

// The served APIs. ELBv2 and ELB share the SigV4 signing name
// "elasticloadbalancing" and are told apart by the Version form field.
const (
	EC2   Service = "ec2"
	ELBv2 Service = "elbv2"
	ELB   Service = "elb"
	// Tagging is the Resource Groups Tagging API (RPC v2 CBOR, tagging.go).
	Tagging Service = "tagging"
)

// API versions the SDK sends in the Version form field.
const (
	ec2Version   = "2016-11-15"
	elbv2Version = "2015-12-01"
	elbVersion   = "2012-06-01"
)

func (s Service) namespace() string {
	switch s {
	case EC2:
		return "http://ec2.amazonaws.com/doc/" + ec2Version + "/"
	case ELBv2:
		return "http://elasticloadbalancing.amazonaws.com/doc/" + elbv2Version + "/"
	default:
		return "http://elasticloadbalancing.amazonaws.com/doc/" + elbVersion + "/"
	}
}

// iamPrefix is the IAM service prefix used in AccessDenied messages.
func (s Service) iamPrefix() string {
	switch s {
	case EC2:
		return "ec2"
	case Tagging:
		return "tag"
	}
	return "elasticloadbalancing"
}

// Call is one request the fake received, in arrival order.
type Call struct {
	Index    int // position in Calls(); restarts at 0 after ResetCalls
	Service  Service
	Action   string
	Params   url.Values // the decoded form, Action and Version included
	Mutating bool       // false for Describe*, Get* and List* actions
	Err      error      // the *APIError returned, ErrDrop*, or nil
}

type handler func(s *Server, p params) ([]*node, error)

// Server is the fake. It is an http.Handler; Start runs it on a test server.
type Server struct {
	cfg config

	mu       sync.Mutex
	seq      int // every request, never reset; drives eventual consistency
	ids      int // suffix source for generated IDs
	calls    []Call
	faults   []*fault
	failAt   map[int]error
	hooks    []func(Call) error
	denied   map[string]bool
	buckets  map[Service]*bucket
	handlers map[Service]map[string]handler
	rpc      map[Service]map[string]cborHandler

	ec2   ec2State
	elbv2 elbv2State
	elb   elbState

	url string
}

// New returns a fake with no resources. Seed it with AddVPC, AddSubnet,
// AddInstance and AddEIP.
func New(opts ...Option) *Server {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		cfg:     cfg,
		failAt:  map[int]error{},
		denied:  map[string]bool{},
		buckets: map[Service]*bucket{},
		handlers: map[Service]map[string]handler{
			EC2:   ec2Handlers(),
			ELBv2: elbv2Handlers(),
			ELB:   elbHandlers(),
		},
		rpc: map[Service]map[string]cborHandler{Tagging: taggingHandlers()},
	}
	for svc, rl := range cfg.rateLimits {
		s.buckets[svc] = &bucket{burst: float64(rl.burst), rate: rl.perSecond, tokens: float64(rl.burst), last: cfg.now()}
	}
	s.ec2.init()
	s.elbv2.init()
	s.elb.init()
	return s
}

// Start runs a new fake on an httptest.Server that t's cleanup closes.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.mu.Lock()
	s.url = ts.URL
	s.mu.Unlock()
	return s
}

// URL is the base endpoint of a Start-ed fake, for the clients'
// BaseEndpoint option or the AWS_ENDPOINT_URL_* variables. It is empty for
// a fake made with New and served by the caller.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Calls returns a copy of the calls received since the last ResetCalls.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ResetCalls forgets recorded calls; FailAt indices count from here again.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.failAt = map[int]error{}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var (
		form   url.Values
		action string
		svc    Service
		perr   *APIError
		doc    map[string]any // the document of an RPC v2 request
	)
	if isRPCv2(r) {
		svc, action, perr = routeRPCv2(r.Header.Get("Authorization"), r.URL.Path)
		if perr == nil {
			body, err := io.ReadAll(r.Body)
			if err == nil {
				doc, err = decodeCBOR(body)
			}
			if err != nil {
				perr = apiErr(http.StatusBadRequest, "SerializationException", "%v", err)
			}
		}
		if perr != nil {
			writeCBORError(w, "", perr)
			return
		}
		form = rpcParams(action, doc)
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, ELB, "", apiErr(http.StatusBadRequest, "MalformedQueryString", "%v", err))
			return
		}
		form = r.Form
		action = form.Get("Action")
		svc, perr = route(r.Header.Get("Authorization"), form.Get("Version"))
		if perr != nil {
			writeError(w, svc, "", perr)
			return
		}
	}

	s.mu.Lock()
	s.seq++
	reqID := fmt.Sprintf("fa4e0000-0000-4000-8000-%012x", s.seq)
	call := Call{
		Index:    len(s.calls),
		Service:  svc,
		Action:   action,
		Params:   cloneValues(form),
		Mutating: isMutating(action),
	}
	s.calls = append(s.calls, call)
	err := s.injectedLocked(call)
	hooks := append([]func(Call) error(nil), s.hooks...)
	s.mu.Unlock()

	// Hooks run unlocked so they may inspect the fake (Resources, Calls).
	for _, h := range hooks {
		if err != nil {
			break
		}
		err = h(call)
	}

	var out []*node
	var rpcOut any
	dropAfter := errors.Is(err, ErrDropResponse)
	if err == nil || dropAfter {
		s.mu.Lock()
		var herr error
		if rh, ok := s.rpc[svc][action]; ok {
			rpcOut, herr = rh(s, doc)
		} else if h, ok := s.handlers[svc][action]; ok {
			out, herr = h(s, params(form))
		} else {
			herr = unknownAction(svc, action)
		}
		if herr != nil {
			err = herr
		}
		s.mu.Unlock()
	}

	s.mu.Lock()
	if call.Index < len(s.calls) && s.calls[call.Index].Action == action {
		s.calls[call.Index].Err = err
	}
	s.mu.Unlock()

	switch {
	case dropAfter || errors.Is(err, ErrDropConnection):
		dropConnection(w)
	case err != nil && svc == Tagging:
		writeCBORError(w, reqID, asAPIError(err))
	case err != nil:
		writeError(w, svc, reqID, asAPIError(err))
	case svc == Tagging:
		writeCBOR(w, reqID, rpcOut)
	default:
		writeSuccess(w, svc, action, reqID, out)
	}
}

// route tells the API from the SigV4 credential scope, which names the
// signing service, and the Version field, which splits the two ELB APIs.
func route(authz, version string) (Service, *APIError) {
	_, cred, ok := strings.Cut(authz, "Credential=")
	if !ok {
		return ELB, apiErr(http.StatusForbidden, "MissingAuthenticationToken",
			"request must be signed with SigV4 (an Authorization header with a Credential scope)")
	}
	cred, _, _ = strings.Cut(cred, ",")
	scope := strings.Split(cred, "/")
	if len(scope) != 5 {
		return ELB, apiErr(http.StatusForbidden, "IncompleteSignature",
			"credential scope %q is not access-key/date/region/service/aws4_request", cred)
	}
	switch {
	case scope[3] == "ec2" && version == ec2Version:
		return EC2, nil
	case scope[3] == "elasticloadbalancing" && version == elbv2Version:
		return ELBv2, nil
	case scope[3] == "elasticloadbalancing" && version == elbVersion:
		return ELB, nil
	}
	svc := ELB
	if scope[3] == "ec2" {
		svc = EC2
	}
	return svc, apiErr(http.StatusBadRequest, "InvalidAction",
		"service %q with Version %q is not served; accepted: ec2 %s, elasticloadbalancing %s or %s",
		scope[3], version, ec2Version, elbv2Version, elbVersion)
}

func unknownAction(svc Service, action string) *APIError {
	switch svc {
	case EC2:
		return apiErr(http.StatusBadRequest, "InvalidAction",
			"The action %s is not valid for this web service (fakeaws does not model it).", action)
	case Tagging:
		return apiErr(http.StatusBadRequest, "UnknownOperationException",
			"The operation %s is not known (fakeaws does not model it).", action)
	}
	return apiErr(http.StatusBadRequest, "InvalidAction",
		"Could not find operation %s for version %s (fakeaws does not model it).", action, svcVersion(svc))
}

func svcVersion(svc Service) string {
	switch svc {
	case EC2:
		return ec2Version
	case ELBv2:
		return elbv2Version
	}
	return elbVersion
}

func isMutating(action string) bool {
	for _, p := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(action, p) {
			return false
		}
	}
	return true
}

func writeSuccess(w http.ResponseWriter, svc Service, action, reqID string, body []*node) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	root := &node{name: action + `Response xmlns="` + svc.namespace() + `"`}
	if svc == EC2 {
		root.kids = el("", append([]*node{leaf("requestId", reqID)}, body...)...).kids
	} else {
		root.kids = []*node{
			el(action+"Result", body...),
			el("ResponseMetadata", leaf("RequestId", reqID)),
		}
	}
	writeRootWithNS(&b, root, action+"Response")
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// Without a raw connection (e.g. an httptest.ResponseRecorder), a
		// 500 with no body is the closest a handler can get.
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// newID returns prefix-<17 hex digits>, the shape of modern EC2 IDs.
func (s *Server) newID(prefix string) string {
	s.ids++
	return fmt.Sprintf("%s-%017x", prefix, 0xfa4e0000000+s.ids)
}

// visible reports whether a resource created at request seq born (time
// bornAt) is visible to Describe calls yet, under the eventual-consistency
// option.
func (s *Server) visible(born int, bornAt time.Time) bool {
	if s.seq <= born+s.cfg.hiddenCalls {
		return false
	}
	return !s.cfg.now().Before(bornAt.Add(s.cfg.hiddenFor))
}
