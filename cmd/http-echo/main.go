// Command http-echo is the lab's program for the hashicorp/http-echo image (lab/echo).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/frontdesk-lb/frontdesk/internal/version"
	"github.com/frontdesk-lb/frontdesk/lab/echo"
)

func main() { os.Exit(run()) }

func run() int {
	// hashicorp/http-echo answers -version; lab/echo's flags stay the server's own.
	if len(os.Args) == 2 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(version.Get().String("http-echo"))
		return 0
	}
	c, err := echo.ParseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "http-echo:", err)
		return 2
	}
	c.Pod = os.Getenv("HOSTNAME")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Fprintf(os.Stderr, "http-echo: listening on %s\n", c.Listen)
	if err := echo.Serve(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "http-echo:", err)
		return 1
	}
	return 0
}
