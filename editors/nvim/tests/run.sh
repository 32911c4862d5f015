#!/usr/bin/env bash
# Runs the Neovim plugin's tests headless against the real server and a known-answer model.
# Needs: nvim (0.7 or later), rustfmt, and the repository's Rust toolchain.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"
# The test profile: the same artifacts `cargo test` already built, so nothing compiles twice. The
# testing feature lets the tests slow the model's load down (DLLM_TEST_LOAD_DELAY_MS).
cargo build -q --profile test -p dllm-ls --features testing
model="$(mktemp -d)"
trap 'rm -rf "$model"' EXIT
cargo run -q --profile test -p dllm-ls --features testing --example constant_model -- "$model" a > /dev/null
# cargo puts the binary under CARGO_TARGET_DIR when that is set.
export DLLM_LS="${CARGO_TARGET_DIR:-$repo/target}/debug/dllm-ls" DLLM_MODEL="$model"
# Each model load first waits 1.5 s, so the first test asks while the model loads.
export DLLM_TEST_LOAD_DELAY_MS=1500
nvim --headless -u "$here/minimal_init.lua" -c "luafile $here/run.lua"
echo
