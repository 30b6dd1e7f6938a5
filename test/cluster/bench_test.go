//go:build integration

package cluster_test

import (
	"testing"

	"github.com/frontdesk-lb/frontdesk/test/cluster"
)

// BenchmarkStart measures how long a test waits for Start with binaries
// already built: from nothing to every component ready.
func BenchmarkStart(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []cluster.Option
	}{
		{"etcd+apiserver", nil},
		{"etcd+apiserver+kcm", []cluster.Option{cluster.WithControllerManager()}},
		{"etcd+apiserver+kcm+scheduler", []cluster.Option{cluster.WithControllerManager(), cluster.WithScheduler()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				c := cluster.Start(b, bc.opts...)
				b.StopTimer()
				c.Stop() // the rest is removed when the benchmark ends
				b.StartTimer()
			}
		})
	}
}
