package metricsdoc

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	snakeName  = regexp.MustCompile(`^frontdesk_[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	snakeLabel = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	// Prometheus wants base units: seconds and bytes, not their multiples.
	nonBaseUnit = regexp.MustCompile(`_(milliseconds|microseconds|nanoseconds|ms|us|ns|minutes|hours|days|kilobytes|megabytes|gigabytes|kb|mb|percent)(_|$)`)
	// A histogram or summary measures a quantity; its name ends with the unit.
	baseUnitSuffix = regexp.MustCompile(`_(seconds|bytes|ratio)$`)
)

// Check returns every way the metrics break Prometheus' naming conventions
// (prometheus.io/docs/practices/naming) and Kubernetes' instrumentation guidelines (a stability
// level on every metric), and any name defined twice.
func Check(ms []Metric) []error {
	var errs []error
	bad := func(m Metric, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", m.Name, m.Pos, fmt.Sprintf(format, args...)))
	}
	seen := map[string]string{}
	for _, m := range ms {
		if prev, ok := seen[m.Name]; ok {
			bad(m, "also defined at %s", prev)
		}
		seen[m.Name] = m.Pos
		if !snakeName.MatchString(m.Name) {
			bad(m, "name must be frontdesk_ then lower-case words joined by _")
		}
		switch total := strings.HasSuffix(m.Name, "_total"); {
		case m.Kind == "counter" && !total:
			bad(m, "a counter's name ends in _total")
		case m.Kind != "counter" && total:
			bad(m, "only a counter's name ends in _total (this is a %s)", m.Kind)
		}
		if (m.Kind == "histogram" || m.Kind == "summary") && !baseUnitSuffix.MatchString(m.Name) {
			bad(m, "a %s measures a quantity: end the name with its base unit (_seconds, _bytes, _ratio)", m.Kind)
		}
		if u := nonBaseUnit.FindString(m.Name); u != "" {
			bad(m, "%q is not a base unit: use seconds or bytes", strings.Trim(u, "_"))
		}
		if strings.TrimSpace(m.Help) == "" {
			bad(m, "no help text")
		} else if !strings.HasSuffix(m.Help, ".") {
			bad(m, "help text should be a sentence ending in a full stop")
		}
		switch m.Stability {
		case "ALPHA", "BETA", "STABLE", "INTERNAL":
		case "":
			bad(m, "no StabilityLevel: Kubernetes' metrics declare one (metrics.ALPHA for a new metric)")
		default:
			bad(m, "unknown StabilityLevel %s", m.Stability)
		}
		for _, l := range append(append([]string(nil), m.Labels...), m.ConstLabels...) {
			if !snakeLabel.MatchString(l) {
				bad(m, "label %q: lower-case words joined by _", l)
			}
			if l == "le" || l == "quantile" || strings.HasPrefix(l, "__") {
				bad(m, "label %q is reserved by Prometheus", l)
			}
		}
	}
	return errs
}
