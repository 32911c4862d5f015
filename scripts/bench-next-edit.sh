#!/usr/bin/env bash
# The next-edit benchmark, one command (issue 20, part 4):
#   bash scripts/bench-next-edit.sh [--engines never,rule,scoped,local,remote] [--per-kind N] [--json FILE] ...
# Builds the corpus first when its test split is missing (as models/train/evaluate.sh does),
# then runs `server/examples/bench_next_edit.rs` in release (see its header for what is
# measured). The `testing` feature brings the loopback server the remote engine's contract
# fixtures are replayed through.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${DLLM_CORPUS:-/work/corpus}
if [ ! -f "$corpus/files/test.jsonl" ]; then
  python3 models/train/corpus.py --out "$corpus"
fi
cargo run --release --locked -p dllm-ls --features testing --example bench_next_edit -- \
  --corpus "$corpus/files/test.jsonl" "$@"
