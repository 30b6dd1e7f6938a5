package bgp

import (
	"context"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// gobgpVerbosity is how many verbosity levels GoBGP's Info sits below ours: a peer up or down,
// which the speaker reports itself (Sessions, OnState), shows at -v=2; its warnings (a malformed
// message, an update treated as a withdraw) and errors always do.
const gobgpVerbosity = 2

// gobgpLogger is the slog logger GoBGP writes to: our logger, named "gobgp", with GoBGP's levels
// below Warn moved down by gobgpVerbosity.
func gobgpLogger(log klog.Logger) *slog.Logger {
	return slog.New(quieter{logr.ToSlogHandler(log.WithName("gobgp"))})
}

// quieter shifts the levels of the records below Warn that it hands on. (GoBGP's own
// level variable, nil here, only serves its SetLogLevel API; it filters nothing.)
type quieter struct{ slog.Handler }

func (q quieter) Enabled(ctx context.Context, l slog.Level) bool {
	return q.Handler.Enabled(ctx, shift(l))
}

func (q quieter) Handle(ctx context.Context, r slog.Record) error {
	r.Level = shift(r.Level)
	return q.Handler.Handle(ctx, r)
}

func (q quieter) WithAttrs(as []slog.Attr) slog.Handler { return quieter{q.Handler.WithAttrs(as)} }

func (q quieter) WithGroup(name string) slog.Handler { return quieter{q.Handler.WithGroup(name)} }

// shift maps GoBGP's slog level to ours: logr reads a level below Info as verbosity -level.
func shift(l slog.Level) slog.Level {
	if l >= slog.LevelWarn {
		return l
	}
	return l - gobgpVerbosity
}
