#!/usr/bin/env bash
# The whole suite, exactly as CI runs it (.ci/run calls `npm test`, which calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/tsc ] || [ ! -x node_modules/.bin/vitest ]; then
  echo "error: the dependencies are not installed: run \`npm ci\` first (then \`npm test\`)." >&2
  exit 1
fi
bash scripts/setup-test-env.sh
npx tsc -b
results=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# One plain closing line, whatever the reporter printed above it.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)
' "$results" || true
rm -f "$results"
exit $status
