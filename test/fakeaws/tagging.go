package fakeaws

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"
)

// The Resource Groups Tagging API speaks Smithy RPC v2 CBOR (what
// aws-sdk-go-v2's client sends), not the query protocol: the action is in the
// path, /service/ResourceGroupsTaggingAPI_20170126/operation/<Action>, the
// input and output are CBOR maps, and an error is a map with __type and
// message.
const (
	taggingPath    = "/service/ResourceGroupsTaggingAPI_20170126/operation/"
	taggingSigning = "tagging"
)

// cborHandler gets the request document as plain Go values (maps, lists,
// strings, numbers) and returns one.
type cborHandler func(s *Server, in map[string]any) (any, error)

func taggingHandlers() map[string]cborHandler {
	return map[string]cborHandler{"GetResources": (*Server).taggingGetResources}
}

// isRPCv2 reports whether r is a Smithy RPC v2 CBOR request.
func isRPCv2(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor")
}

// routeRPCv2 tells the service and action from the path and signing scope;
// only the Tagging API speaks RPC v2 here.
func routeRPCv2(authz, path string) (Service, string, *APIError) {
	if _, perr := route(authz, ""); perr != nil && perr.Code != "InvalidAction" {
		return Tagging, "", perr // unsigned, or a malformed credential scope
	}
	action, ok := strings.CutPrefix(path, taggingPath)
	if scope := signingName(authz); scope != taggingSigning || !ok || action == "" {
		return Tagging, "", apiErr(http.StatusBadRequest, "UnknownOperationException",
			"path %q signed for %q is not served; accepted: %s<Action> signed for %s", path, scope, taggingPath, taggingSigning)
	}
	return Tagging, action, nil
}

// signingName is the service in a SigV4 credential scope, "" if none.
func signingName(authz string) string {
	_, cred, _ := strings.Cut(authz, "Credential=")
	cred, _, _ = strings.Cut(cred, ",")
	if scope := strings.Split(cred, "/"); len(scope) == 5 {
		return scope[3]
	}
	return ""
}

// decodeCBOR turns a request body into plain Go values.
func decodeCBOR(body []byte) (map[string]any, error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, err
	}
	m, ok := fromCBOR(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the document is not a map")
	}
	return m, nil
}

func fromCBOR(v cbor.Value) any {
	switch x := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = fromCBOR(e)
		}
		return m
	case cbor.List:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = fromCBOR(e)
		}
		return l
	case cbor.String:
		return string(x)
	case cbor.Uint:
		return int64(x)
	case cbor.NegInt:
		return -int64(x)
	case cbor.Bool:
		return bool(x)
	}
	return nil
}

// toCBOR encodes plain Go values (as a handler returns them, through their
// JSON form: maps, lists, strings, numbers) as CBOR.
func toCBOR(v any) cbor.Value {
	switch x := v.(type) {
	case map[string]any:
		m := cbor.Map{}
		for k, e := range x {
			if e != nil {
				m[k] = toCBOR(e)
			}
		}
		return m
	case []any:
		l := cbor.List{}
		for _, e := range x {
			l = append(l, toCBOR(e))
		}
		return l
	case string:
		return cbor.String(x)
	case float64:
		return cbor.Uint(uint64(x))
	case bool:
		return cbor.Bool(x)
	}
	return &cbor.Nil{}
}

type getResourcesInput struct {
	PaginationToken     string
	ResourcesPerPage    *int
	ResourceTypeFilters []string
	ResourceARNList     []string
	TagFilters          []struct {
		Key    string
		Values []string
	}
}

type tagMapping struct {
	ResourceARN string
	Tags        []jsonTag
}

type jsonTag struct{ Key, Value string }

// taggingGetResources lists the tagged resources of the region with their
// tags. Every TagFilter must match (a key, and one of its values when it
// has any); a ResourceTypeFilter is "service" or "service:type", as in
// "elasticloadbalancing:loadbalancer" (which covers ELBv2 and classic load
// balancers) or "ec2:security-group". Resources without tags are not
// listed, as on AWS. Newly created ones are subject to the same
// eventual-consistency window as Describe.
func (s *Server) taggingGetResources(doc map[string]any) (any, error) {
	var in getResourcesInput
	if err := viaJSON(doc, &in); err != nil {
		return nil, invalidParam("malformed request: %v", err)
	}
	size := 50
	if in.ResourcesPerPage != nil {
		if size = *in.ResourcesPerPage; size < 1 || size > 100 {
			return nil, invalidParam("ResourcesPerPage %d, accepted: 1-100", size)
		}
	}
	if len(in.TagFilters) > 50 || len(in.ResourceARNList) > 0 && (len(in.TagFilters) > 0 || len(in.ResourceTypeFilters) > 0) {
		return nil, invalidParam("at most 50 TagFilters, and ResourceARNList excludes TagFilters and ResourceTypeFilters")
	}
	arns := idSet(in.ResourceARNList)
	var out []tagMapping
	for _, r := range s.taggedLocked() {
		if len(r.tags) == 0 || (len(arns) > 0 && !arns[r.arn]) || !typeMatches(in.ResourceTypeFilters, r.typ) {
			continue
		}
		ok := true
		for _, f := range in.TagFilters {
			v, has := r.tags[f.Key]
			ok = ok && has && (len(f.Values) == 0 || contains(f.Values, v))
		}
		if !ok {
			continue
		}
		m := tagMapping{ResourceARN: r.arn}
		for _, k := range sortedKeys(r.tags) {
			m.Tags = append(m.Tags, jsonTag{k, r.tags[k]})
		}
		out = append(out, m)
	}
	items, next, err := page(out, in.PaginationToken, size)
	if err != nil {
		return nil, invalidParam("PaginationToken %q was not handed out", in.PaginationToken)
	}
	var res map[string]any
	err = viaJSON(struct {
		PaginationToken        string `json:",omitempty"`
		ResourceTagMappingList []tagMapping
	}{next, items}, &res)
	return res, err
}

type taggedResource struct {
	arn, typ string // typ: service:resource-type
	tags     map[string]string
}

// taggedLocked lists every visible resource with its ARN, sorted by ARN.
func (s *Server) taggedLocked() []taggedResource {
	var out []taggedResource
	addEC2 := func(kind, id string, m meta) {
		if s.visible(m.born, m.bornAt) {
			out = append(out, taggedResource{s.ec2ARN(kind, id), "ec2:" + kind, s.ec2.tags[id]})
		}
	}
	for id, v := range s.ec2.vpcs {
		addEC2("vpc", id, v.meta)
	}
	for id, v := range s.ec2.subnets {
		addEC2("subnet", id, v.meta)
	}
	for id, v := range s.ec2.instances {
		addEC2("instance", id, v.meta)
	}
	for id, v := range s.ec2.groups {
		addEC2("security-group", id, v.meta)
	}
	for id, v := range s.ec2.eips {
		addEC2("elastic-ip", id, v.meta)
	}
	add := func(arn, typ string, m meta, tags map[string]string) {
		if s.visible(m.born, m.bornAt) {
			out = append(out, taggedResource{arn, typ, tags})
		}
	}
	for arn, v := range s.elbv2.lbs {
		add(arn, "elasticloadbalancing:loadbalancer", v.meta, v.tags)
	}
	for arn, v := range s.elbv2.tgs {
		add(arn, "elasticloadbalancing:targetgroup", v.meta, v.tags)
	}
	for arn, v := range s.elbv2.listeners {
		add(arn, "elasticloadbalancing:listener", v.meta, v.tags)
	}
	for name, v := range s.elb.lbs {
		arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/%s", s.cfg.region, s.cfg.account, name)
		add(arn, "elasticloadbalancing:loadbalancer", v.meta, v.tags)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].arn < out[j].arn })
	return out
}

func typeMatches(filters []string, typ string) bool {
	if len(filters) == 0 {
		return true
	}
	svc, _, _ := strings.Cut(typ, ":")
	return contains(filters, typ) || contains(filters, svc)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func invalidParam(format string, args ...any) *APIError {
	return apiErr(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

// viaJSON converts between plain Go values and a typed struct.
func viaJSON(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// writeCBOR writes an RPC v2 answer; v is a handler's result.
func writeCBOR(w http.ResponseWriter, reqID string, v any) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(cbor.Encode(toCBOR(v)))
}

func writeCBORError(w http.ResponseWriter, reqID string, e *APIError) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(e.Status)
	_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(e.Code), "message": cbor.String(e.Message)}))
}

// rpcParams is what Call.Params holds for an RPC v2 request: the action and
// the document, as JSON.
func rpcParams(action string, doc map[string]any) url.Values {
	b, _ := json.Marshal(doc)
	return url.Values{"Action": {action}, "Body": {string(b)}}
}
