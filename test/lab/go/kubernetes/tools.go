//go:build tools

// The lab's Kubernetes binaries, built from k8s.io/kubernetes at the release pinned in go.mod
// (test/lab/tools.ts builds them; nothing here is part of the product).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
