#!/usr/bin/env bash
# Installs Debian's chromium (the browser the dashboard's tests drive through playwright-core) when it
# is missing. Idempotent; waits for another apt run to release its lock instead of failing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
