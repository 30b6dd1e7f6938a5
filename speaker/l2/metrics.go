package l2

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// recorder receives what the announcer counts. The announcer's tests record events to wait on
// them; production uses the legacy registry, served by the speaker on /metrics.
type recorder interface {
	answered(p protocol, iface string)
	dropped(p protocol, iface string, r DropReason)
	gratuitousSent(p protocol, iface string)
	// interfaceUnavailable counts an interface becoming unable to announce.
	interfaceUnavailable(iface string, r InterfaceReason)
	// unavailableNow is the number of interfaces unable to announce now.
	unavailableNow(n int)
}

// Label values are bounded: protocols and reasons are fixed sets, and interfaces are only those
// that announce a VIP.
var (
	requestsAnswered = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker_l2", Name: "requests_answered_total",
		Help:           "ARP requests and neighbour solicitations answered for a VIP, per protocol and interface.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"protocol", "interface"})
	packetsDropped = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker_l2", Name: "packets_dropped_total",
		Help: "Received ARP and NDP packets not answered, by reason: malformed, not_request, from_self, " +
			"gratuitous, conflict (another host claims a VIP this node announces), not_owned, wrong_interface, reply_failed.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"protocol", "reason"})
	gratuitousSent = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker_l2", Name: "gratuitous_sent_total",
		Help:           "Gratuitous ARP packets and unsolicited neighbour advertisements sent, per protocol and interface.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"protocol", "interface"})
	interfaceUnavailable = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: "frontdesk", Subsystem: "speaker_l2", Name: "interface_unavailable_total",
		Help:           "Times an interface needed for a VIP became unable to announce, by reason: missing, down, not_ethernet, socket_failed.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	interfacesUnavailable = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace: "frontdesk", Subsystem: "speaker_l2", Name: "interfaces_unavailable",
		Help:           "Interfaces needed for a VIP that cannot announce now (retried with backoff).",
		StabilityLevel: metrics.ALPHA,
	})

	registerOnce sync.Once
)

type promRecorder struct{}

func newPromRecorder() promRecorder {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(requestsAnswered, packetsDropped, gratuitousSent,
			interfaceUnavailable, interfacesUnavailable)
	})
	return promRecorder{}
}

func (promRecorder) answered(p protocol, iface string) {
	requestsAnswered.WithLabelValues(string(p), iface).Inc()
}

func (promRecorder) dropped(p protocol, _ string, r DropReason) {
	packetsDropped.WithLabelValues(string(p), string(r)).Inc()
}

func (promRecorder) gratuitousSent(p protocol, iface string) {
	gratuitousSent.WithLabelValues(string(p), iface).Inc()
}

func (promRecorder) interfaceUnavailable(_ string, r InterfaceReason) {
	interfaceUnavailable.WithLabelValues(string(r)).Inc()
}

func (promRecorder) unavailableNow(n int) { interfacesUnavailable.Set(float64(n)) }
