#!/usr/bin/env bash
# Install everything the test suite needs, then run it (extra arguments go to pytest).
# Prometheus comes from Debian (the tests start the real server on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
export AIOPS_REQUIRE_PROMETHEUS=1  # the real-Prometheus tier fails, never skips, here
exec python3 -m pytest "$@"
