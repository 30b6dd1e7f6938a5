// Command kubectl-frontdesk is the kubectl plugin `kubectl frontdesk`: on PATH, kubectl runs it
// for `kubectl frontdesk ...`. Everything but main lives in package inspect.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/frontdesk-lb/frontdesk/inspect"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := inspect.NewCommand(os.Stdout).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}
