#!/usr/bin/env bash
# apt-ensure.sh COMMAND PACKAGE: installs the Debian PACKAGE when COMMAND is missing. Idempotent;
# waits for another apt run to release its lock instead of failing.
set -euo pipefail
command=$1 package=$2
if command -v "$command" >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$package" >/dev/null
command -v "$command" >/dev/null
