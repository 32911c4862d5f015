"""Seconds to build one training batch (`data.make_batch`), the data-side limit of a GPU run.

    /work/pyenv/bin/python models/train/bench_batches.py [--data /work/corpus2] [--batch 256]
        [--infill-frac 0.8] [--reps 3] [--data-py OTHER/data.py]

`--data-py` times another version of data.py in the same run (e.g. an older one from
`git show REV:models/train/data.py`), alternating with this one, so the ratio holds on a noisy
machine.
"""

import argparse
import importlib.util
import random
import sys
import time
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import data as D  # noqa: E402
import tokenizer as T  # noqa: E402


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/corpus2"))
    ap.add_argument("--tokenizer", type=Path, default=here.parent / "default" / "tokenizer.json")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--infill-frac", type=float, default=0.8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data-py", type=Path, help="another data.py to time beside this one")
    a = ap.parse_args()

    tok = T.load(a.tokenizer)
    corpus = D.Corpus(a.data, "train")
    versions = [("this data.py", D)]
    if a.data_py:
        versions.append((str(a.data_py), load_module(a.data_py, "data_other")))
    times = {name: [] for name, _ in versions}
    for rep in range(a.reps):
        for name, module in versions:
            rng = random.Random(rep)
            t = time.perf_counter()
            module.make_batch(rng, corpus, tok, a.batch, a.seq, a.infill_frac, 0.1)
            times[name].append(time.perf_counter() - t)
    for name, ts in times.items():
        print(f"{name}: {min(ts):.3f} s min, {sorted(ts)[len(ts) // 2]:.3f} s median per batch "
              f"of {a.batch} x {a.seq} ({a.reps} reps)")


if __name__ == "__main__":
    main()
