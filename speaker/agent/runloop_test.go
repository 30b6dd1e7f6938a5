package agent

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
)

// runLoop builds the loop of cfg with NewLoop, as start does, and runs it as start and shutdown
// do, without the rest of the process (liveness, the announcer, the node proxy): it records the
// Events over kube, starts cfg.Informers, runs the loop until ctx ends, retires BGP (if
// configured) through the running loop and flushes the status writes within shutdownBudget, then
// stops the loop and shuts the informers down. Like the process, it never withdraws layer 2 on the way out: that is the
// announcer's owner's to do.
func runLoop(ctx context.Context, kube kubernetes.Interface, cfg LoopConfig) error {
	events, rec := loop.NewEventRecorder(context.WithoutCancel(ctx), kube, cfg.NodeName)
	defer events.Shutdown()
	cfg.Events = rec
	l, bgp, err := NewLoop(cfg)
	if err != nil {
		return err
	}
	set := cfg.Informers
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	set.Start(runCtx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	var runErr error
	returned := false
	select {
	case <-ctx.Done():
	case runErr = <-done:
		returned = true
	}
	var retireErr error
	rctx, rcancel := context.WithTimeout(context.Background(), shutdownBudget)
	if bgp != nil {
		if err := l.Retire(rctx, bgp); err != nil {
			retireErr = fmt.Errorf("withdrawing BGP: %w", err)
		}
	}
	if err := l.Flush(rctx); err != nil {
		retireErr = errors.Join(retireErr, fmt.Errorf("the last status writes: %w", err))
	}
	rcancel()
	cancel()
	if !returned {
		runErr = <-done
	}
	set.Shutdown()
	return errors.Join(runErr, retireErr)
}
