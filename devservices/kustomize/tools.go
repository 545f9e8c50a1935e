//go:build tools

// The kustomize the deployment tests render with: pinned by go.mod and go.sum here,
// built once into target/ by devservices (devservices/services.py, kustomize()).
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
