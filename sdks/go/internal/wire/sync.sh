#!/usr/bin/env bash
# Copies the repository's wire files (schemas/*.json, protocol/redis/**/*.lua) into this package, where
# go:embed can reach them. Run by `go generate ./...`; TestCopiesMatchTheRepository fails on drift.
set -euo pipefail
cd "$(dirname "$0")"
root=../../../..
rm -rf schemas redis
mkdir -p schemas redis/includes
cp "$root"/schemas/*.json schemas/
cp "$root"/protocol/redis/*.lua redis/
cp "$root"/protocol/redis/includes/*.lua redis/includes/
