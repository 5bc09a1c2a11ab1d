//go:build tools

// crane builds and pushes the real node's images to the local registry (tools/realnode/images.sh).
package tools

import _ "github.com/google/go-containerregistry/cmd/crane"
