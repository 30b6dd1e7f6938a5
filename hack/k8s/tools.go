//go:build tools

// Package tools pins the Kubernetes control-plane commands, the kubelet and etcd
// that the integration tests and the lab run. The build tag keeps this file out
// of every build; it only exists so that `go mod tidy` records the go.sum lines
// of every command build.sh compiles.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/test/images/agnhost"
)
