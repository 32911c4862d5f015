"""Scores exported models on the same fixed validation batches, so that runs can be compared.

    python models/train/export_eval.py --data /work/corpus models/default OTHER_EXPORT_DIR ...

Each directory holds an export (`config.json` + `model.safetensors`, the shape of the default
model's config). The batches are built from the valid split with a fixed seed
(`train.evaluate`): 80% editor-shaped infill canvases, the rest masked-diffusion windows, as in
the GPU runs. Prints the same terms as the training log's `valid` lines (span_ce, span_acc, ...).
"""
import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as D  # noqa: E402
import tokenizer as T  # noqa: E402
import train as TR  # noqa: E402
from model import DreamModel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exports", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=Path("/work/corpus"))
    ap.add_argument("--batches", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--infill-frac", type=float, default=0.8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for d in args.exports:
        cfg = json.loads((d / "config.json").read_text())
        a = TR.parse_args().parse_args([
            "--data", str(args.data), "--tokenizer", str(Path(__file__).resolve().parents[1] / "default" / "tokenizer.json"),
            "--num-hidden-layers", str(cfg["num_hidden_layers"]), "--hidden-size", str(cfg["hidden_size"]),
            "--intermediate-size", str(cfg["intermediate_size"]),
            "--num-attention-heads", str(cfg["num_attention_heads"]),
            "--num-key-value-heads", str(cfg["num_key_value_heads"]),
        ])
        a.batch, a.infill_frac, a.eval_batches = args.batch, args.infill_frac, args.batches
        model = DreamModel(TR.model_config(a))
        TR.init_from_export(model, d)
        with torch.no_grad():
            ev = TR.evaluate(model, D.Corpus(a.data, "valid"), T.load(a.tokenizer), a, torch.device("cpu"),
                             lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        print(d, " ".join(f"{k} {v:.4f}" for k, v in sorted(ev.items())), flush=True)


if __name__ == "__main__":
    main()
