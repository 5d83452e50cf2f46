#!/usr/bin/env bash
# Installs promtool (from Debian's prometheus package) when it is missing, so the metrics tests can run
# `promtool check metrics` on the exposed text. Idempotent; waits for another apt run's lock. The
# package's service is never started (services do not auto-start on these machines, and nothing here
# starts it).
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null
