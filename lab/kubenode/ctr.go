package kubenode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Ctr runs containerd's ctr against one containerd of the lab, a node's or the router's
// (lab/router), in one containerd namespace.
type Ctr struct {
	Bin       string // the ctr binary
	Socket    string // containerd's API socket
	Namespace string // containerd namespace: k8s.io for the CRI's
	What      string // names the containerd in errors, e.g. "containerd of node1"
}

// Argv is the command line of ctr with args against this containerd and namespace.
func (c Ctr) Argv(args ...string) []string {
	return append([]string{c.Bin, "--address=" + c.Socket, "--namespace=" + c.Namespace}, args...)
}

// Run runs ctr with args and returns its output.
func (c Ctr) Run(ctx context.Context, args ...string) (string, error) {
	argv := c.Argv(args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", errors.Join(err, errors.New(strings.TrimSpace(stderr.String())))
	}
	return out.String(), nil
}

// Wait waits until containerd answers on its socket.
func (c Ctr) Wait(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if _, err = c.Run(ctx, "version"); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not answering on %s after %s: %w", c.What, c.Socket, timeout, err)
}

// Import imports OCI archives.
func (c Ctr) Import(ctx context.Context, archives ...string) error {
	for _, a := range archives {
		if _, err := c.Run(ctx, "images", "import", a); err != nil {
			return fmt.Errorf("importing %s into the %s: %w", filepath.Base(a), c.What, err)
		}
	}
	return nil
}
