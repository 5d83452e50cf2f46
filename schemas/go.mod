module github.com/thrun-dev/thrun/schemas

go 1.26.0
