//go:build integration

package controlplane_test

import (
	"testing"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// BenchmarkStart measures how long a test waits for Start with binaries
// already built: from nothing to every component ready.
func BenchmarkStart(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []controlplane.Option
	}{
		{"etcd+apiserver", nil},
		{"etcd+apiserver+kcm", []controlplane.Option{controlplane.WithControllerManager()}},
		{"etcd+apiserver+kcm+scheduler", []controlplane.Option{controlplane.WithControllerManager(), controlplane.WithScheduler()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				c := controlplane.Start(b, bc.opts...)
				b.StopTimer()
				c.Stop() // the rest is removed when the benchmark ends
				b.StartTimer()
			}
		})
	}
}
