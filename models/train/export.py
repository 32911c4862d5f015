#!/usr/bin/env python3
"""Export a training checkpoint in the engine's Dream layout (issue 3, part 3).

    python models/train/export.py --ckpt /work/ckpt/run1/ckpt.pt --out /work/ckpt/export [--dtype bf16|f32]

Writes config.json (model_type "Dream"), model.safetensors (bf16 by default; f32 for parity
checks), tokenizer.json, tokenizer_config.json and generation_config.json. A tied head is not
written (the engine reuses the embedding when tie_word_embeddings is true).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tokenizer as T  # noqa: E402
from model import DreamModel, ModelConfig  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}


def hf_config(cfg: ModelConfig, tok) -> dict:
    ids = {name: tok.token_to_id(s) for name, s in (("eos", T.EOS), ("mask", T.MASK), ("bos", T.BOS))}
    return {
        "model_type": "Dream",
        "architectures": ["DreamModel"],
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": None,
        "max_position_embeddings": cfg.max_position_embeddings,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "use_sliding_window": False,
        "attention_dropout": 0.0,
        "mask_token_id": ids["mask"],
        "eos_token_id": ids["eos"],
        "pad_token_id": ids["eos"],
        "bos_token_id": ids["bos"],
        "torch_dtype": "bfloat16",
    }


def export_model(model: DreamModel, tokenizer_path: Path, out: Path, dtype: str = "bf16",
                 extra: dict | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    tok = T.load(tokenizer_path)
    assert tok.get_vocab_size() <= cfg.vocab_size
    tensors = {}
    for name, t in model.state_dict().items():
        if cfg.tie_word_embeddings and name == "lm_head.weight":
            continue
        tensors[name] = t.detach().to("cpu", DTYPES[dtype]).contiguous()
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    conf = hf_config(cfg, tok)
    conf["torch_dtype"] = {"bf16": "bfloat16", "f32": "float32"}[dtype]
    if extra:
        conf["training"] = extra
    (out / "config.json").write_text(json.dumps(conf, indent=2) + "\n")
    shutil.copyfile(tokenizer_path, out / "tokenizer.json")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "mask_token": T.MASK,
        "eos_token": T.EOS,
        "pad_token": T.EOS,
        "bos_token": T.BOS,
        "add_bos_token": False,
        "add_eos_token": False,
        "model_max_length": cfg.max_position_embeddings,
    }, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps({
        "mask_token_id": conf["mask_token_id"],
        "eos_token_id": conf["eos_token_id"],
        "pad_token_id": conf["pad_token_id"],
        "bos_token_id": conf["bos_token_id"],
    }, indent=2) + "\n")
    return out


def load_checkpoint(path: Path) -> tuple[DreamModel, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = DreamModel(ModelConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, default=Path("/work/ckpt/run1/ckpt.pt"))
    ap.add_argument("--tokenizer", type=Path, default=None, help="default: the one the run used")
    ap.add_argument("--out", type=Path, default=Path("/work/ckpt/export"))
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    a = ap.parse_args()
    model, state = load_checkpoint(a.ckpt)
    tok_path = a.tokenizer or Path(state["args"]["tokenizer"])
    extra = {"step": state["step"], "tokens": state["tokens"], "hours": round(state.get("elapsed", 0) / 3600, 2)}
    export_model(model, tok_path, a.out, a.dtype, extra)
    size = (a.out / "model.safetensors").stat().st_size
    print(f"exported step {state['step']} ({state['tokens'] / 1e6:.1f}M tokens) to {a.out}: "
          f"{model.num_params() / 1e6:.2f}M params, model.safetensors {size / 1e6:.1f} MB ({a.dtype})")


if __name__ == "__main__":
    main()
