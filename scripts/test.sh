#!/usr/bin/env bash
# The project's test command (the README's, and what CI runs through .ci/run):
# the Rust workspace, then the editor integrations against the real server.
set -euo pipefail
cd "$(dirname "$0")/.."

# CI builds everything once, from nothing: incremental caches would only take disk (they were
# 3 GB of a 6 GB target/ here), and CI's disk is small.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

# Remote engines: the real llama.cpp server the remote-engine tests run against, installed once into
# a cache (a prebuilt wheel from PyPI: ~10 s the first time) and checked with curl (~2 s).
bash scripts/llama-server.sh smoke

# `bench` adds the engine's benchmark-only parts, their test and the benchmarks' build.
cargo test --workspace --locked --features dllm-models/bench

# Neovim: Debian's package (0.7) is enough; install it where it is missing and we may.
if ! command -v nvim > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim > /dev/null
  else
    echo "nvim not found and cannot be installed here (not root): install neovim to run its tests" >&2
    exit 1
  fi
fi
bash editors/nvim/tests/run.sh

# VS Code: the extension's build, lint, unit tests, end-to-end tests against the real server and
# its .vsix (Node 20+ and npm, which the machine has).
bash editors/vscode/tests/run.sh
