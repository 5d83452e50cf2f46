#!/usr/bin/env bash
# Installs Debian's chromium, the browser the dashboard's tests drive through playwright-core.
exec bash "$(dirname "$0")/apt-ensure.sh" chromium chromium
