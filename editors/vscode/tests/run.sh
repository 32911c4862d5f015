#!/usr/bin/env bash
# Builds, lints, tests and packages the VS Code extension. The integration tests start the real
# server with a known-answer model (it predicts "a" everywhere), so every edit is checked exactly.
# Needs: Node 20 or later with npm (and the npm registry, or a warm npm cache, for `npm ci`), and
# the repository's Rust toolchain. VS Code itself is not needed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ext="$(cd "$here/.." && pwd)"
repo="$(cd "$ext/../.." && pwd)"
cd "$repo"

# The test profile: the same artifacts `cargo test` already built, so nothing compiles twice.
cargo build -q --profile test -p dllm-ls --features testing --examples --bins
# cargo puts the binaries under CARGO_TARGET_DIR when that is set (relative to the repository).
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
model="$(mktemp -d)"
log="$(mktemp)"
trap 'rm -rf "$model" "$log"' EXIT
"$target/debug/examples/constant_model" "$model" a > /dev/null
export DLLM_LS="$target/debug/dllm-ls" DLLM_MODEL="$model"

cd "$ext"
# --ignore-scripts: no install step is needed (esbuild finds its platform package by itself), and
# vsce's optional keytar would otherwise try to download or compile a native module.
npm ci --no-audit --no-fund --ignore-scripts
npm run compile
npm run lint
npm test 2>&1 | tee "$log"
# The totals of node's test runner: "# pass N" (TAP, when not on a terminal) or "ℹ pass N" (spec).
count() { sed -n "s/^\(# \|ℹ \)$1 \([0-9]*\)$/\2/p" "$log" | tail -n 1; }
passed="$(count pass)"
failed="$(count fail)"
skipped="$(count skipped)"
if [ -z "$passed" ] || [ "$failed" != 0 ] || [ "$skipped" != 0 ]; then
  echo "vscode: tests did not all run and pass (pass ${passed:-?}, fail ${failed:-?}, skipped ${skipped:-?})" >&2
  exit 1
fi

rm -f dllm-ls.vsix
# No prompt can hang here: stdin is closed.
npm run package < /dev/null
# A .vsix is a zip: check it carries the bundle and the manifest.
node -e '
  const fs = require("fs");
  const zip = fs.readFileSync("dllm-ls.vsix");
  for (const name of ["extension/package.json", "extension/dist/extension.js", "extension/readme.md", "extension.vsixmanifest"]) {
    if (!zip.includes(name)) { console.error("dllm-ls.vsix lacks " + name); process.exit(1); }
  }
  if (zip.includes("extension/node_modules/")) { console.error("dllm-ls.vsix carries node_modules"); process.exit(1); }
'
echo
echo "vscode: ${passed} tests passed (unit + end to end against $(basename "$DLLM_LS")); lint clean; $(du -k dllm-ls.vsix | cut -f1) KiB dllm-ls.vsix"
