module github.com/thrun-dev/thrun/sdks/go

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	github.com/rabbitmq/amqp091-go v1.17.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/thrun-dev/thrun/protocol v0.0.0
	github.com/thrun-dev/thrun/schemas v0.0.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kadm v1.20.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.14.0 // indirect
)

// The wire files are modules of their own at the repository root (go:embed reaches only files inside
// the embedding module). Here they build from the working copy; a module that requires this one gets
// them by module path instead, at the versions required above (README.md, "The wire files").
replace (
	github.com/thrun-dev/thrun/protocol => ../../protocol
	github.com/thrun-dev/thrun/schemas => ../../schemas
)
