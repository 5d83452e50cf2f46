// Package schemas carries the JSON Schemas of this folder and their test vectors, so that a Go module
// can embed them: go:embed reaches only files inside the embedding module, and this folder is the
// only source of the wire contract (README.md documents both).
package schemas

import "embed"

// Schemas holds every schema, <name>.schema.json, at the root of the file system.
//
//go:embed *.schema.json
var Schemas embed.FS

// Vectors holds the test vectors, vectors/<suite>/<case>.json, and vectors/vectors.schema.json. A
// program that never reads it does not carry it: the linker drops unreferenced variables.
//
//go:embed vectors
var Vectors embed.FS
