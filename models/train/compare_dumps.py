"""Compares two `evaluate --dump` runs on the same holes, hole by hole.

    python models/train/compare_dumps.py OLD.jsonl NEW.jsonl [--resamples 2000] [--seed 0]
        [--summaries OLD.json NEW.json]

For each kind of hole: the mean difference of edit similarity (NEW - OLD, the `model_es` that
`evaluate` writes per hole) and its 95% interval from a paired bootstrap over holes. Pairing
removes the spread between holes, which dominates an unpaired comparison of two small means.
Also per kind: how many answers changed, and the mean shift of the confidence gate's score
(`min_with_end`, server/src/gate.rs) with its bootstrap interval. With `--summaries` (the two
runs' `evaluate --json` files): parse rates per kind, which the dumps do not carry.
Standard library only.
"""
import argparse
import json
import random


GATE_SCORE = "min_with_end"  # the score the server's gate compares (server/src/gate.rs, SCORE)


def bootstrap(d: list[float], rng: random.Random, resamples: int) -> tuple[float, float, float]:
    """The mean of `d` and its 95% interval from resampling `d`."""
    n = len(d)
    means = sorted(sum(rng.choice(d) for _ in range(n)) / n for _ in range(resamples))
    return sum(d) / n, means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def gate_score(case: dict) -> float:
    # A hole with no answer has no scores: it counts as 0, never shown.
    return (case.get("scores") or {}).get(GATE_SCORE, 0.0)


def paired(old: list[dict], new: list[dict], resamples: int = 2000, seed: int = 0) -> dict:
    if len(old) != len(new) or any((a["path"], a["truth"]) != (b["path"], b["truth"]) for a, b in zip(old, new)):
        raise SystemExit("the two dumps are not of the same holes (same corpus, --per-cell and order)")
    rng = random.Random(seed)
    out = {}
    for kind in dict.fromkeys(a["kind"] for a in old):
        pairs = [(a, b) for a, b in zip(old, new) if a["kind"] == kind]
        es = [(b["model_es"] or 0.0) - (a["model_es"] or 0.0) for a, b in pairs]
        gate = [gate_score(b) - gate_score(a) for a, b in pairs]
        out[kind] = {
            "n": len(pairs),
            "es": bootstrap(es, rng, resamples),
            "changed": sum(a.get("model") != b.get("model") for a, b in pairs),
            "gate": bootstrap(gate, rng, resamples),
        }
    return out


def parse_rates(summary: dict) -> dict:
    """Share of answers that parse, per kind, over all languages (`evaluate --json`'s cells)."""
    totals: dict = {}
    for cell in summary["cells"]:
        n, parses = totals.get(cell["kind"], (0, 0.0))
        totals[cell["kind"]] = (n + cell["model"]["n"], parses + cell["model"]["parses"] * cell["model"]["n"])
    return {kind: parses / max(n, 1) for kind, (n, parses) in totals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--summaries", nargs=2, metavar=("OLD_JSON", "NEW_JSON"))
    args = ap.parse_args()
    load = lambda p: [json.loads(line) for line in open(p)]  # noqa: E731
    for kind, r in paired(load(args.old), load(args.new), args.resamples, args.seed).items():
        (mean, lo, hi), (g, glo, ghi) = r["es"], r["gate"]
        print(f"{kind:14s} n={r['n']:4d}  ES difference {mean:+.2f}  95% [{lo:+.2f}, {hi:+.2f}]"
              f"  changed {r['changed']:3d}  gate score {g:+.3f} [{glo:+.3f}, {ghi:+.3f}]")
    if args.summaries:
        old, new = (parse_rates(json.load(open(p))) for p in args.summaries)
        for kind in old:
            print(f"{kind:14s} parses {100 * old[kind]:.1f}% -> {100 * new.get(kind, 0.0):.1f}%")


if __name__ == "__main__":
    main()
