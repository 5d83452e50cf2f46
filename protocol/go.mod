module github.com/thrun-dev/thrun/protocol

go 1.26.0
