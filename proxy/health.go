package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// health serves each externalTrafficPolicy: Local LoadBalancer's healthCheckNodePort, which is how
// a cloud load balancer learns which nodes have local endpoints, and the proxy's own /healthz.
type health struct {
	p  *Proxy
	mu sync.Mutex
	// services maps each Service with a healthCheckNodePort to its port and local endpoint count.
	services map[types.NamespacedName]hcService
	servers  map[uint16]*hcServer
	closed   bool
}

type hcService struct {
	port  uint16
	local int
}

type hcServer struct {
	srv  *http.Server
	done chan struct{}
}

func newHealth(p *Proxy) *health {
	return &health{p: p, services: map[types.NamespacedName]hcService{}, servers: map[uint16]*hcServer{}}
}

// update records the local endpoint counts of the synced Services and opens or closes listeners.
func (h *health) update(snap snapshot, tables []*table) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if snap.all {
		h.services = map[types.NamespacedName]hcService{}
	}
	for _, k := range snap.keys {
		svc, ok := snap.services[k]
		if !ok || svc.Spec.HealthCheckNodePort == 0 || svc.Spec.Type != v1.ServiceTypeLoadBalancer ||
			svc.Spec.ExternalTrafficPolicy != v1.ServiceExternalTrafficPolicyLocal {
			delete(h.services, k)
			continue
		}
		local := 0
		for _, t := range tables {
			if s := t.applied[k]; s != nil {
				local += len(s.localReady)
			}
		}
		h.services[k] = hcService{port: uint16(svc.Spec.HealthCheckNodePort), local: local}
	}
	if h.closed {
		return
	}
	want := map[uint16]bool{}
	for _, s := range h.services {
		want[s.port] = true
	}
	for port, s := range h.servers {
		if !want[port] {
			_ = s.srv.Close()
			<-s.done
			delete(h.servers, port)
		}
	}
	for port := range want {
		if h.servers[port] != nil {
			continue
		}
		ln, err := h.p.cfg.Listen("tcp", ":"+strconv.Itoa(int(port)))
		if err != nil {
			// Retried at the next sync; the load balancer sees this node as down meanwhile.
			h.p.log.Error(err, "opening a healthCheckNodePort", "port", port)
			continue
		}
		s := &hcServer{srv: &http.Server{Handler: h.portHandler(port), ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
		go func() {
			defer close(s.done)
			_ = s.srv.Serve(ln)
		}()
		h.servers[port] = s
	}
}

// portHandler answers a load balancer's probe: 200 with the count when this node has local
// endpoints, 503 otherwise, the body and header kube-proxy sends so that existing tooling reads it.
func (h *health) portHandler(port uint16) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.mu.Lock()
		var key types.NamespacedName
		local, found := 0, false
		for k, s := range h.services {
			if s.port == port {
				key, local, found = k, s.local, true
				break
			}
		}
		h.mu.Unlock()
		healthy := h.p.healthy()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Load-Balancing-Endpoint-Weight", strconv.Itoa(local))
		if !found || local == 0 || !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"service":             map[string]string{"namespace": key.Namespace, "name": key.Name},
			"localEndpoints":      local,
			"serviceProxyHealthy": healthy,
		})
	})
}

func (h *health) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for port, s := range h.servers {
		_ = s.srv.Close()
		<-s.done
		delete(h.servers, port)
	}
}

// healthy is /healthz's answer: the rules are programmed, and the last sync succeeded or one did
// recently enough that a transient failure does not pull the node out of every load balancer.
func (p *Proxy) healthy() bool {
	select {
	case <-p.ready:
	default:
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.lastErr == nil || time.Since(p.lastGood) < 2*p.cfg.MinSyncPeriod+30*time.Second
}

// HealthzHandler serves /healthz: 200 when healthy, 503 otherwise, with the last sync time. A
// failed sync's error goes to the log only: anyone who reaches the port may ask, and nft's
// messages name the node's tables and rules.
func (p *Proxy) HealthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.mu.RLock()
		last := p.lastGood
		p.mu.RUnlock()
		w.Header().Set("Content-Type", "application/json")
		if !p.healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"lastSuccessfulSync": last.UTC().Format(time.RFC3339Nano)})
	})
}

// serve runs an HTTP server on addr; stop closes it and waits for it.
func serve(addr string, handler http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns once Close below runs
	}()
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
