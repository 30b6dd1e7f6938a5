// Package kubeclient builds the rest.Config of frontdesk's commands, so that each reads
// --kubeconfig (or the in-cluster config) the same way.
package kubeclient

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options adjust the config; a zero field keeps client-go's default.
type Options struct {
	// UserAgent names the program in the API server's audit log and metrics.
	UserAgent string
	// QPS and Burst are the client-side rate limit of every client built from the config
	// (client-go's default is 5 QPS, burst 10).
	QPS   float32
	Burst int
}

// Config loads the kubeconfig file at path, or the in-cluster config (the Pod's ServiceAccount)
// when path is empty, and applies o.
func Config(path string, o Options) (*rest.Config, error) {
	cfg, err := load(path)
	if err != nil {
		return nil, err
	}
	if o.UserAgent != "" {
		cfg.UserAgent = o.UserAgent
	}
	if o.QPS != 0 {
		cfg.QPS = o.QPS
	}
	if o.Burst != 0 {
		cfg.Burst = o.Burst
	}
	return cfg, nil
}

func load(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no --kubeconfig and not in a cluster: %w", err)
		}
		return cfg, nil
	}
	// An explicit path only: BuildConfigFromFlags("", "") would fall back to the in-cluster
	// config itself, with a warning instead of the error above.
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}
