#!/usr/bin/env bash
# The default model's evaluation on held-out packages, one command (issue 3, part 6):
#   bash models/train/evaluate.sh [--model DIR] [--per-cell N] [--json FILE] ...
# Builds the corpus first when its test split is missing (stdlib Python, registry downloads),
# then runs `server/examples/evaluate.rs` (see its header for what is measured).
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=${DLLM_CORPUS:-/work/corpus}
if [ ! -f "$corpus/files/test.jsonl" ]; then
  python3 models/train/corpus.py --out "$corpus"
fi
cargo run --release --locked -p dllm-ls --example evaluate -- --corpus "$corpus/files/test.jsonl" "$@"
