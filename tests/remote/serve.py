"""Runs llama.cpp's HTTP server (its own tools/server code, through the xllamacpp wheel) on a free
loopback port for the remote-engine tests. Started by scripts/llama-server.sh, which documents the
interface; in short:

- stdout gets exactly one line, the port, once GET /health answers 200; everything else (llama.cpp's
  log) goes to stderr.
- It serves until SIGTERM or SIGINT, or until the process that started it exits (so a test that dies
  without cleaning up leaves no server behind).
- Sampling defaults to greedy (temperature 0, fixed seed), so a request that sends no temperature is
  deterministic too.
"""

import argparse
import json
import os
import signal
import sys
import threading
import urllib.request


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="GGUF file to serve")
    p.add_argument("--slots", type=int, default=2, help="requests decoded at once (default 2)")
    p.add_argument(
        "--ctx-per-slot",
        type=int,
        default=4096,
        help="context tokens per slot (default 4096: long enough for a stream that a test can cancel)",
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require `Authorization: Bearer $VAR` (the key is read from that variable, never printed)",
    )
    p.add_argument("--verbose", action="store_true", help="llama.cpp's info log on stderr")
    return p.parse_args()


def start(args: argparse.Namespace):
    import xllamacpp  # imported here so `--help` works without it

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # llama.cpp binds any free port and reports it in listening_address
    params.n_parallel = args.slots
    params.n_ctx = args.slots * args.ctx_per_slot
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.warmup = False
    params.endpoint_metrics = True  # lets a test see that a cancelled stream stopped decoding
    params.endpoint_slots = True
    params.sampling.temp = 0.0
    params.sampling.seed = 42
    params.verbosity = 3 if args.verbose else 1  # 1: errors only
    if args.api_key_env:
        key = os.environ.get(args.api_key_env, "")
        if not key:
            raise SystemExit(f"serve.py: --api-key-env {args.api_key_env}: that variable is empty")
        params.api_keys = [key]
    try:
        return xllamacpp.Server(params)
    except Exception as e:  # xllamacpp raises a plain RuntimeError when the model does not load
        raise SystemExit(f"serve.py: llama.cpp's server did not start with {args.model}: {e}")


def check_health(address: str) -> None:
    with urllib.request.urlopen(f"{address}/health", timeout=10) as r:
        body = json.loads(r.read())
        if r.status != 200 or body.get("status") != "ok":
            raise SystemExit(f"serve.py: {address}/health answered {r.status} {body}")


def wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:  # re-parented: whoever started us is gone
            return


def main() -> None:
    args = parse_args()
    # stdout carries only the port line: keep it aside and send fd 1 (llama.cpp's C++ code may
    # print there) to stderr.
    port_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    server = start(args)
    address = server.listening_address  # "http://127.0.0.1:PORT"
    check_health(address)
    port_out.write(address.rsplit(":", 1)[1] + "\n")
    port_out.flush()
    wait_for_stop()
    del server  # stops llama.cpp's loop and closes the socket


if __name__ == "__main__":
    main()
