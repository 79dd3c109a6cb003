#!/usr/bin/env bash
# Installs the system packages the test suite drives for real (a browser for the docs page).
# Idempotent: does nothing when they are already there. CI and fresh machines start bare.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The docker target's tests: a local OCI registry (distribution v2), skopeo to inspect what was
# pushed, and podman + runc (umoci as the fallback unpacker) to run the pushed image.
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v umoci >/dev/null 2>&1 || need+=(umoci)
# busybox gives the tests' home-made base image a /bin/sh for the Dockerfile's RUN line.
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
# The UbiOps target's tests import the generated deployment.py with the system Python, as UbiOps
# would (standard library only), and `unzip` opens helm's release archive.
[ -x /usr/bin/python3 ] || need+=(python3)
command -v unzip >/dev/null 2>&1 || need+=(unzip)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup-test-env: installing ${need[*]} (Debian packages)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup-test-env: chromium $(chromium --version 2>/dev/null | awk '{print $2}')"
echo "setup-test-env: docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'), $(skopeo --version 2>/dev/null), $(podman --version 2>/dev/null)"
