module github.com/thrun-dev/thrun/sdks/go

go 1.26.0
