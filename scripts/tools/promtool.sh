#!/usr/bin/env bash
# Installs promtool (Debian's prometheus package), which the metrics tests run as `promtool check
# metrics`. The package's service is never started: nothing here starts it, and services do not start
# on install on these machines.
exec bash "$(dirname "$0")/apt-ensure.sh" promtool prometheus
