package bgp

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

// GoBGP's records reach our logger under the name "gobgp": warnings and errors at every
// verbosity, its Info only from -v=2, its Debug from -v=6.
func TestGoBGPLogsReachOurs(t *testing.T) {
	for _, tt := range []struct {
		verbosity int
		want      []string
	}{
		{0, []string{"warn", "error"}},
		{2, []string{"info", "warn", "error"}},
		{6, []string{"debug", "info", "warn", "error"}},
	} {
		var got []string
		log := funcr.New(func(prefix, args string) {
			if prefix != "gobgp" {
				t.Errorf("logger name %q, want gobgp", prefix)
			}
			got = append(got, args)
		}, funcr.Options{Verbosity: tt.verbosity})
		g := gobgpLogger(log)
		g.Debug("debug")
		g.Info("info")
		g.Warn("warn")
		g.Error("error")
		var msgs []string
		for _, line := range got {
			for _, m := range []string{"debug", "info", "warn", "error"} {
				if strings.Contains(line, `"msg"="`+m+`"`) {
					msgs = append(msgs, m)
				}
			}
		}
		if strings.Join(msgs, ",") != strings.Join(tt.want, ",") {
			t.Errorf("-v=%d: logged %v, want %v (lines %q)", tt.verbosity, msgs, tt.want, got)
		}
	}
	if shift(slog.LevelError) != slog.LevelError {
		t.Error("an error must stay an error")
	}
}
