#!/usr/bin/env bash
# llama.cpp's HTTP server on a free loopback port, for the remote-engine tests (issue 18): a real,
# independent server that speaks OpenAI's legacy `POST /v1/completions` and llama.cpp's `POST /infill`.
#
# The server is llama.cpp's own server code (tools/server, the same routes and engine as the
# `llama-server` binary) from the `xllamacpp` wheel on PyPI, prebuilt for Linux x86-64, so nothing
# is compiled; tests/remote/serve.py starts it. The model is the project's default model
# (models/default) written as a Qwen2 GGUF with FIM tokens by tests/remote/write_gguf.py.
#
# Usage: scripts/llama-server.sh COMMAND
#   install            Create a venv in the cache and install tests/remote/requirements.txt (pinned,
#                      binary wheels only). Prints nothing; a no-op once done (checked by the
#                      requirements' hash). First run here: ~15 s (~40 MB of wheels).
#   gguf               Print the path of the test GGUF, writing it first if the cache lacks it
#                      (~0.5 s; ~25 MB, f32; named by a hash of models/default and the writer).
#   serve [OPTIONS]    Install and write the GGUF if needed, then run the server in the foreground.
#                      It prints ONE line on stdout, the port (e.g. `41855`), once GET /health answers
#                      200; the base URL is http://127.0.0.1:PORT (OpenAI routes under /v1). llama.cpp's
#                      log goes to stderr (errors only, unless --verbose).
#                      The script execs the server, so the PID you spawned is the server's. Stop it with
#                      SIGTERM, SIGINT or SIGKILL to that PID; it also exits by itself when the process
#                      that started it exits, so a test that dies leaves nothing running.
#                      OPTIONS (tests/remote/serve.py --help):
#                        --model GGUF        another model (default: the test GGUF above)
#                        --api-key-env VAR   require `Authorization: Bearer <value of $VAR>` (for 401 tests;
#                                            /health stays open)
#                        --slots N           concurrent requests (default 2)
#                        --ctx-per-slot N    context per request (default 4096, so a long stream can be
#                                            cancelled midway: 4000 tokens stream for ~4-11 s here)
#                        --threads N         CPU threads (default 1)
#                        --verbose           llama.cpp's info log on stderr
#                      Sampling defaults to greedy (temperature 0, seed 42): answers are deterministic.
#                      GET /metrics and /slots are on (to see that a cancelled request stopped decoding).
#   smoke              Start the server and check with curl: /v1/completions (plain, SSE, a stream dropped
#                      midway stops decoding), /infill (with the FIM tokens), the API key, SIGTERM. Exits
#                      non-zero on any failure. ~3 s once installed (tests/remote/smoke.sh).
#
# Environment:
#   DLLM_LLAMA_CACHE   cache directory (default ${XDG_CACHE_HOME:-~/.cache}/dllm-ls/llama.cpp): the venv
#                      and the GGUF live there, outside the repository. Several callers at once are
#                      fine: install and GGUF writing are serialized with flock.
#   DLLM_LLAMA_PYTHON  the Python (>= 3.11, for numpy 2.4) that creates the venv (default python3)
#
# Example (Rust test): spawn `bash scripts/llama-server.sh serve` with stdout piped, read the first
# line as the port, use http://127.0.0.1:PORT/v1 (api `completions`; llama.cpp ignores `suffix` there)
# or http://127.0.0.1:PORT (api `llama-infill`), kill the child when done. Run `install` first (or
# allow ~15 s for the first `serve`). Facts about this server's answers: tests/remote/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REMOTE="$ROOT/tests/remote"
CACHE="${DLLM_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dllm-ls/llama.cpp}"
VENV="$CACHE/venv"
PY="$VENV/bin/python"

die() { echo "llama-server.sh: $*" >&2; exit 1; }

# Holds an exclusive lock on the cache while the given command runs (several tests may start at once).
locked() {
  mkdir -p "$CACHE"
  (flock 9 && "$@") 9> "$CACHE/.lock"
}

install_venv() {
  local want stamp="$VENV/.requirements.sha256"
  want="$(sha256sum "$REMOTE/requirements.txt" | cut -d' ' -f1)"
  [ "$(cat "$stamp" 2> /dev/null)" = "$want" ] && return 0
  rm -rf "$VENV"
  "${DLLM_LLAMA_PYTHON:-python3}" -m venv "$VENV" || die "cannot create a venv in $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: \
    -r "$REMOTE/requirements.txt" || die "pip could not install tests/remote/requirements.txt"
  echo "$want" > "$stamp"
}

gguf_path() {
  local key
  key="$(cat "$ROOT/models/default/config.json" "$ROOT/models/default/model.safetensors" \
    "$ROOT/models/default/tokenizer.json" "$REMOTE/write_gguf.py" "$REMOTE/requirements.txt" |
    sha256sum | cut -c1-16)"
  echo "$CACHE/gguf/default-$key.gguf"
}

write_gguf() {
  local out
  out="$(gguf_path)"
  [ -f "$out" ] && return 0
  mkdir -p "$CACHE/gguf"
  rm -f "$CACHE"/gguf/default-*.gguf  # an older model's file
  "$PY" "$REMOTE/write_gguf.py" "$ROOT/models/default" "$out"
}

prepare() {
  locked install_venv
  locked write_gguf
}

serve() {
  prepare >&2 # stdout carries the port line alone
  local has_model=no arg
  for arg in "$@"; do [ "$arg" = "--model" ] && has_model=yes; done
  if [ "$has_model" = no ]; then
    set -- --model "$(gguf_path)" "$@"
  fi
  exec "$PY" "$REMOTE/serve.py" "$@"
}

case "${1:-}" in
  install) locked install_venv ;;
  gguf) prepare >&2 && gguf_path ;;
  serve) shift && serve "$@" ;;
  smoke) prepare && exec bash "$REMOTE/smoke.sh" "$0" "$PY" ;;
  *) die "usage: $0 install | gguf | serve [OPTIONS] | smoke (see the comment at the top)" ;;
esac
