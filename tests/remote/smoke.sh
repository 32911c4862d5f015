#!/usr/bin/env bash
# Smoke check of the test llama.cpp server, run by `scripts/llama-server.sh smoke` (which passes its
# own path and the venv's Python): starts it through the script's `serve` interface exactly as a Rust
# test would, POSTs with curl, checks the answers, stops it. Loopback only; every request is bounded.
set -euo pipefail
SCRIPT="$1"
PY="$2"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "llama-server smoke: FAILED: $*" >&2; exit 1; }

# Starts `serve` with the given options in the background; sets PORT once it printed the port.
start() {
  local out="$TMP/port.$#" i
  bash "$SCRIPT" serve "$@" > "$out" 2> "$TMP/serve.err" &
  PIDS+=("$!")
  for i in $(seq 1 600); do
    if [ -s "$out" ]; then PORT="$(head -n1 "$out")"; return 0; fi
    kill -0 "$!" 2> /dev/null || fail "serve exited before printing a port: $(cat "$TMP/serve.err")"
    sleep 0.1
  done
  fail "no port after 60 s"
}

# post PATH JSON [curl options...]: the body, or a failure naming the status.
post() {
  local path="$1" body="$2"
  shift 2
  curl -sS --max-time 30 -o "$TMP/body" -w '%{http_code}' "$@" \
    -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$PORT$path" > "$TMP/code" ||
    fail "curl $path: connection failed"
  STATUS="$(cat "$TMP/code")"
  cat "$TMP/body"
}

# json_get EXPR: evaluates a Python expression over the JSON body `j` (no jq on a bare machine).
json_get() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)" < "$TMP/body"; }

start
COMPLETION='{"prompt": "def add(a, b):\n    return", "max_tokens": 8, "temperature": 0}'

post /v1/completions "$COMPLETION" > /dev/null
[ "$STATUS" = 200 ] || fail "/v1/completions answered $STATUS: $(cat "$TMP/body")"
TEXT="$(json_get 'j["choices"][0]["text"]')"
[ -n "$TEXT" ] || fail "/v1/completions gave no text: $(cat "$TMP/body")"
post /v1/completions "$COMPLETION" > /dev/null
[ "$(json_get 'j["choices"][0]["text"]')" = "$TEXT" ] || fail "greedy /v1/completions is not deterministic"

post /v1/completions '{"prompt": "fn main() {", "max_tokens": 8, "temperature": 0, "stream": true}' > /dev/null
[ "$STATUS" = 200 ] || fail "streamed /v1/completions answered $STATUS"
grep -q '^data: {"choices"' "$TMP/body" || fail "no SSE data events: $(head -c 300 "$TMP/body")"
[ "$(grep -v '^$' "$TMP/body" | tail -n1)" = 'data: [DONE]' ] || fail "the SSE stream does not end with [DONE]"

post /infill '{"input_prefix": "def add(a, b):\n    return ", "input_suffix": "\n\nprint(add(1, 2))\n", "n_predict": 8, "temperature": 0}' > /dev/null
[ "$STATUS" = 200 ] || fail "/infill answered $STATUS: $(cat "$TMP/body")"
[ -n "$(json_get 'j["content"]')" ] || fail "/infill gave no text: $(cat "$TMP/body")"
# The server laid the prompt out with the GGUF's own FIM tokens.
[ "$(json_get 'j["prompt"].startswith("<|fim_prefix|>") and "<|fim_suffix|>" in j["prompt"] and j["prompt"].endswith("<|fim_middle|>")')" = True ] ||
  fail "/infill prompt lacks the FIM tokens: $(json_get 'j["prompt"]')"

# A stream the client drops midway stops decoding: the counters stop short of the 4000 asked for.
metric() { curl -sS --max-time 10 "http://127.0.0.1:$PORT/metrics" | awk -v m="llamacpp:$1" '$1 == m {print int($2)}'; }
BEFORE="$(metric tokens_predicted_total)"
curl -sS -N --max-time 0.5 -o /dev/null -H 'Content-Type: application/json' \
  -d '{"prompt": "def f(", "max_tokens": 4000, "temperature": 0, "stream": true}' \
  "http://127.0.0.1:$PORT/v1/completions" 2> /dev/null || true # curl exits 28 when it hangs up
for _ in $(seq 1 50); do [ "$(metric requests_processing)" = 0 ] && break; sleep 0.1; done
[ "$(metric requests_processing)" = 0 ] || fail "the dropped stream was still decoding after 5 s"
DECODED=$(($(metric tokens_predicted_total) - BEFORE))
[ "$DECODED" -lt 4000 ] || fail "the dropped stream decoded all $DECODED tokens"

# A server that requires a key: 401 without it, 200 with it.
export DLLM_SMOKE_KEY="smoke-$RANDOM$RANDOM"
start --api-key-env DLLM_SMOKE_KEY
post /v1/completions "$COMPLETION" > /dev/null
[ "$STATUS" = 401 ] || fail "no key: expected 401, got $STATUS"
post /v1/completions "$COMPLETION" -H "Authorization: Bearer $DLLM_SMOKE_KEY" > /dev/null
[ "$STATUS" = 200 ] || fail "with the key: expected 200, got $STATUS"

# Stopping: SIGTERM ends the server (the PID is the server's own: `serve` execs it).
kill -TERM "${PIDS[0]}"
for _ in $(seq 1 100); do kill -0 "${PIDS[0]}" 2> /dev/null || break; sleep 0.1; done
kill -0 "${PIDS[0]}" 2> /dev/null && fail "the server did not exit on SIGTERM"

echo "llama-server smoke: ok (/v1/completions plain, repeated, streamed and dropped midway; /infill with FIM tokens; API key; SIGTERM)"
