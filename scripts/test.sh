#!/usr/bin/env bash
# The whole suite, exactly as CI runs it (.ci/run calls `npm test`, which calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-env.sh
npx tsc -b
npx vitest run "$@"
