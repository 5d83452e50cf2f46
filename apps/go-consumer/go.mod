module thrun.dev/apps/go-consumer

go 1.26.0

require (
	github.com/redis/go-redis/v9 v9.23.0
	github.com/thrun-dev/thrun/sdks/go v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	github.com/thrun-dev/thrun/protocol v0.0.0 // indirect
	github.com/thrun-dev/thrun/schemas v0.0.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.14.0 // indirect
)

// The module and the wire files it embeds (schemas/, protocol/: modules of their own) live in this
// repository: build against the working copy. Replace directives apply only in the main module, so
// this one repeats those of sdks/go.
replace (
	github.com/thrun-dev/thrun/protocol => ../../protocol
	github.com/thrun-dev/thrun/schemas => ../../schemas
	github.com/thrun-dev/thrun/sdks/go => ../../sdks/go
)
