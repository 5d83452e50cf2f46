// Package protocol carries the files of this folder that runtimes load, so that a Go module can embed
// them: go:embed reaches only files inside the embedding module, and this folder is the only source of
// the Redis scripts (protocol/README.md says how to resolve them) and of the header names.
package protocol

import "embed"

// Redis holds every Redis script, redis/<name>-<number of keys>.lua, and the fragments they include,
// redis/includes/<name>.lua, as they are in the repository (headers and include lines unresolved).
//
//go:embed redis/*.lua redis/includes/*.lua
var Redis embed.FS

// Headers is headers.json: every header (and Redis Streams entry field) name, by transport.
//
//go:embed headers.json
var Headers []byte
