"""Scores exported models on the same fixed validation batches, so that runs can be compared.

    python models/train/export_eval.py --data /work/corpus models/default OTHER_EXPORT_DIR ...

Each directory holds an export (`config.json` + `model.safetensors`; its shape is read from the
config, its tokenizer from the directory or else `models/default`). The batches are built from the
valid split with a fixed seed (`train.evaluate`): 80% editor-shaped infill canvases, the rest
masked-diffusion windows, as in the GPU runs. Prints the terms of the training log's `valid` lines
(span_ce, span_acc, ...).
"""
import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data as D  # noqa: E402
import tokenizer as T  # noqa: E402
import train as TR  # noqa: E402
from model import DreamModel  # noqa: E402

# config.json key -> train.py option
SHAPE = {
    "vocab_size": "--vocab-size", "hidden_size": "--hidden-size", "intermediate_size": "--intermediate-size",
    "num_hidden_layers": "--num-hidden-layers", "num_attention_heads": "--num-attention-heads",
    "num_key_value_heads": "--num-key-value-heads", "max_position_embeddings": "--max-position-embeddings",
    "rope_theta": "--rope-theta",
}


def score(export: Path, data: Path, batches: int = 32, batch: int = 8, seq: int = 512,
          infill_frac: float = 0.8) -> dict:
    cfg = json.loads((export / "config.json").read_text())
    tokenizer = export / "tokenizer.json"
    if not tokenizer.exists():
        tokenizer = HERE.parent / "default" / "tokenizer.json"
    argv = ["--data", str(data), "--tokenizer", str(tokenizer), "--seq", str(seq)]
    for key, opt in SHAPE.items():
        if key in cfg:
            argv += [opt, str(cfg[key])]
    a = TR.parse_args().parse_args(argv)
    a.batch, a.infill_frac, a.eval_batches = batch, infill_frac, batches
    a.max_span = min(a.max_span, seq // 4)
    model = DreamModel(TR.model_config(a))
    TR.init_from_export(model, export)
    with torch.no_grad():
        return TR.evaluate(model, D.Corpus(a.data, "valid"), T.load(a.tokenizer), a, torch.device("cpu"),
                           lambda: torch.autocast("cpu", dtype=torch.bfloat16))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exports", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=Path("/work/corpus"))
    ap.add_argument("--batches", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--infill-frac", type=float, default=0.8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for d in args.exports:
        ev = score(d, args.data, args.batches, args.batch, args.seq, args.infill_frac)
        print(d, " ".join(f"{k} {v:.4f}" for k, v in sorted(ev.items())), flush=True)


if __name__ == "__main__":
    main()
