#!/usr/bin/env bash
# Installs the system packages the test suite drives for real (a browser for the docs page).
# Idempotent: does nothing when they are already there. CI and fresh machines start bare.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup-test-env: installing ${need[*]} (Debian packages)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup-test-env: chromium $(chromium --version 2>/dev/null | awk '{print $2}')"
