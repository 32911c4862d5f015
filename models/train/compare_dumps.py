"""Compares two `evaluate --dump` runs on the same holes, hole by hole.

    python models/train/compare_dumps.py OLD.jsonl NEW.jsonl [--resamples 2000] [--seed 0]

For each kind of hole: the mean difference of edit similarity (NEW - OLD, the `model_es` that
`evaluate` writes per hole) and its 95% interval from a paired bootstrap over holes. Pairing
removes the spread between holes, which dominates an unpaired comparison of two small means.
Standard library only.
"""
import argparse
import json
import random


def paired(old: list[dict], new: list[dict], resamples: int = 2000, seed: int = 0) -> dict:
    if len(old) != len(new) or any((a["path"], a["truth"]) != (b["path"], b["truth"]) for a, b in zip(old, new)):
        raise SystemExit("the two dumps are not of the same holes (same corpus, --per-cell and order)")
    rng = random.Random(seed)
    out = {}
    for kind in dict.fromkeys(a["kind"] for a in old):
        d = [(b["model_es"] or 0.0) - (a["model_es"] or 0.0) for a, b in zip(old, new) if a["kind"] == kind]
        n = len(d)
        means = sorted(sum(rng.choice(d) for _ in range(n)) / n for _ in range(resamples))
        out[kind] = (n, sum(d) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load = lambda p: [json.loads(line) for line in open(p)]  # noqa: E731
    for kind, (n, mean, lo, hi) in paired(load(args.old), load(args.new), args.resamples, args.seed).items():
        print(f"{kind:14s} n={n:4d}  ES difference {mean:+.2f}  95% [{lo:+.2f}, {hi:+.2f}]")


if __name__ == "__main__":
    main()
