#!/usr/bin/env bash
# The longer fuzz run: every property-based harness with many more cases than the test suite's,
# then the soak test with many more requests. One command:
#   bash scripts/fuzz.sh [CASES] [SOAK_REQUESTS]      (defaults: 20000 cases, 100000 requests)
# Figures from a run go in docs/fuzzing.md. A failure prints proptest's shrunk input; proptest
# also keeps its seed in the harness's .proptest-regressions file, to be committed with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-20000}"
soak="${2:-100000}"
export PROPTEST_CASES="$cases"

run() {
  echo "== $*" >&2
  local start=$SECONDS
  "$@"
  echo "== $(( SECONDS - start )) s" >&2
}

# The transport: arbitrary bytes, damaged frames, arbitrary JSON-RPC.
run cargo test -q --locked -p dllm-ls --test fuzz_transport
# The document layer: random edit streams against a naive string model, UTF-8 and UTF-16, CRLF.
run cargo test -q --locked -p dllm-ls --lib document::properties::
# Settings: arbitrary JSON for the server's configuration.
run cargo test -q --locked -p dllm-ls --test fuzz_config
# Checkpoints: arbitrary config.json values, parsed alone and loaded beside real weights.
run cargo test -q --locked -p dllm-models --test config_bounds
# Many documents and mixed requests against the real server; prints its peak RSS.
DLLM_SOAK_REQUESTS="$soak" run cargo test -q --locked -p dllm-tests --test soak -- --nocapture
echo "fuzz: all harnesses passed at $cases cases each; soak at $soak requests" >&2
