//go:build tools

// Package tools pins the SeaweedFS main package so `go mod tidy` keeps its
// dependency graph; the binary itself is built with
// `go build github.com/seaweedfs/seaweedfs/weed`.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
