"""Write small random checkpoints of both families plus reference logits from transformers.

Run by hand (not by CI), from the repository root:

    python -m venv .venv-ref && .venv-ref/bin/pip install torch transformers safetensors numpy
    .venv-ref/bin/python models/reference/make_fixtures.py

It writes models/tests/fixtures/{dream-tiny,dream-tiny-sharded,dream-tiny-bf16,llada-tiny}/ with the
Hugging Face layout the Rust engine loads, and reference.safetensors in each with `input_ids` and
`logits` (raw, position-aligned: logits[i] is computed from the hidden state at i; the Dream
logit shift is applied by the engine and tested separately).

The reference is transformers' own Qwen2 (Dream family) and Llama (LLaDA family) forward with an
explicit all-visible 4D attention mask, i.e. bidirectional attention. For LLaDA the Llama weights
are written under LLaDA's OLMo-style names. The script checks that the bidirectional logits differ
from the causal ones, so a silently ignored mask cannot produce a fixture.
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
SEQ = 24
HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
INTERMEDIATE = 128

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
    "for i in range(len(xs)):\n    total += xs[i]\n",
    "function add(a, b) { return a + b; }\n",
    "func Add(a int, b int) int {\n\treturn a + b\n}\n",
    "let größe = vec![1, 2, 3]; // ✓ done\r\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
] * 20


def train_tokenizer(specials):
    """A byte-level BPE with a few hundred tokens: enough to round-trip any UTF-8 text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def bidirectional_logits(model, ids):
    full = torch.zeros(1, 1, ids.shape[1], ids.shape[1], dtype=torch.float32)
    with torch.no_grad():
        bi = model(input_ids=ids, attention_mask=full).logits[0]
        causal = model(input_ids=ids).logits[0]
        # The same 4D format carrying a causal mask must reproduce the default causal forward:
        # this proves the mask is read as additive (0 = visible), so all zeros is full attention.
        n = ids.shape[1]
        tri = torch.full((n, n), float("-inf")).triu(1)[None, None]
        causal_4d = model(input_ids=ids, attention_mask=tri).logits[0]
    if (causal_4d - causal).abs().max().item() > 1e-5:
        sys.exit("a causal 4D mask did not reproduce the causal forward: mask format misread")
    gap = (bi - causal).abs().max().item()
    if gap < 1e-3:
        sys.exit(f"the 4D mask was ignored (bidirectional == causal, gap {gap})")
    return bi


def write_common(d, tok, tokenizer_config, generation_config):
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f, indent=2)
    if generation_config is not None:
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump(generation_config, f, indent=2)


def save_reference(d, ids, logits):
    save_file(
        {"input_ids": ids[0].to(torch.int64).contiguous(), "logits": logits.float().contiguous()},
        os.path.join(d, "reference.safetensors"),
    )


def save_sharded(d, state, n_shards):
    names = sorted(state)
    per = (len(names) + n_shards - 1) // n_shards
    weight_map = {}
    total = 0
    for s in range(n_shards):
        fname = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {n: state[n].contiguous() for n in names[s * per:(s + 1) * per]}
        save_file(part, os.path.join(d, fname), metadata={"format": "pt"})
        for n, t in part.items():
            weight_map[n] = fname
            total += t.numel() * t.element_size()
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def dream(tok, mask_id, eos_id, ids):
    cfg = Qwen2Config(
        vocab_size=tok.get_vocab_size(), hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
        rope_theta=12345.0, rms_norm_eps=1e-6, tie_word_embeddings=False, max_position_embeddings=256,
        attn_implementation="eager",
    )
    torch.manual_seed(1)
    model = Qwen2ForCausalLM(cfg).float().eval()
    # transformers initialises biases to zero; random biases make the parity test meaningful.
    with torch.no_grad():
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.1)
        for layer in model.model.layers:
            layer.input_layernorm.weight.normal_(1.0, 0.1)
            layer.post_attention_layernorm.weight.normal_(1.0, 0.1)
        model.model.norm.weight.normal_(1.0, 0.1)
    dream_config = {
        "architectures": ["DreamModel"], "model_type": "Dream",
        "vocab_size": cfg.vocab_size, "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 12345.0, "rope_scaling": None,
        "max_position_embeddings": 256, "tie_word_embeddings": False, "use_sliding_window": False,
        "attention_dropout": 0.0, "torch_dtype": "float32",
        "mask_token_id": mask_id, "pad_token_id": eos_id, "eos_token_id": eos_id, "bos_token_id": eos_id,
    }
    gen = {"mask_token_id": mask_id, "pad_token_id": eos_id, "eos_token_id": eos_id, "bos_token_id": eos_id}
    tcfg = {"mask_token": "<|mask|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    logits = bidirectional_logits(model, ids)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    d = os.path.join(ROOT, "dream-tiny")
    write_common(d, tok, tcfg, gen)
    json.dump(dream_config, open(os.path.join(d, "config.json"), "w"), indent=2)
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    save_reference(d, ids, logits)

    d = os.path.join(ROOT, "dream-tiny-sharded")
    write_common(d, tok, tcfg, gen)
    json.dump(dream_config, open(os.path.join(d, "config.json"), "w"), indent=2)
    save_sharded(d, state, 3)
    save_reference(d, ids, logits)

    # bf16 weights; the reference is the f32 forward of the same bf16-rounded weights.
    rounded = {k: v.to(torch.bfloat16) for k, v in state.items()}
    model.load_state_dict({k: v.float() for k, v in rounded.items()})
    logits_bf16 = bidirectional_logits(model, ids)
    d = os.path.join(ROOT, "dream-tiny-bf16")
    write_common(d, tok, tcfg, gen)
    json.dump(dict(dream_config, torch_dtype="bfloat16"), open(os.path.join(d, "config.json"), "w"), indent=2)
    save_file(rounded, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    save_reference(d, ids, logits_bf16)


def llada(tok, mask_id, eos_id, ids):
    cfg = LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=HIDDEN, intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
        rope_theta=54321.0, rms_norm_eps=1e-5, tie_word_embeddings=False, max_position_embeddings=256,
        attention_bias=False, mlp_bias=False, attn_implementation="eager",
    )
    torch.manual_seed(2)
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight.normal_(1.0, 0.1)
            layer.post_attention_layernorm.weight.normal_(1.0, 0.1)
        model.model.norm.weight.normal_(1.0, 0.1)
    logits = bidirectional_logits(model, ids)
    sd = model.state_dict()
    state = {
        "model.transformer.wte.weight": sd["model.embed_tokens.weight"],
        "model.transformer.ln_f.weight": sd["model.norm.weight"],
        "model.transformer.ff_out.weight": sd["lm_head.weight"],
    }
    names = {
        "self_attn.q_proj": "q_proj", "self_attn.k_proj": "k_proj", "self_attn.v_proj": "v_proj",
        "self_attn.o_proj": "attn_out", "mlp.gate_proj": "ff_proj", "mlp.up_proj": "up_proj",
        "mlp.down_proj": "ff_out", "input_layernorm": "attn_norm", "post_attention_layernorm": "ff_norm",
    }
    for i in range(LAYERS):
        for src, dst in names.items():
            state[f"model.transformer.blocks.{i}.{dst}.weight"] = sd[f"model.layers.{i}.{src}.weight"]
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    llada_config = {
        "architectures": ["LLaDAModelLM"], "model_type": "llada",
        "d_model": HIDDEN, "n_layers": LAYERS, "n_heads": HEADS, "n_kv_heads": KV_HEADS,
        "mlp_hidden_size": INTERMEDIATE, "mlp_ratio": 2, "max_sequence_length": 256,
        "vocab_size": cfg.vocab_size, "embedding_size": cfg.vocab_size,
        "mask_token_id": mask_id, "eos_token_id": eos_id, "pad_token_id": eos_id,
        "layer_norm_type": "rms", "rms_norm_eps": 1e-5, "rope": True, "rope_theta": 54321.0,
        "activation_type": "silu", "block_type": "llama", "include_bias": False, "weight_tying": False,
        "alibi": False, "flash_attention": False, "scale_logits": False,
    }
    tcfg = {"mask_token": "<|mdm_mask|>", "eos_token": "<|eot|>", "bos_token": "<|bos|>"}
    d = os.path.join(ROOT, "llada-tiny")
    write_common(d, tok, tcfg, None)
    json.dump(llada_config, open(os.path.join(d, "config.json"), "w"), indent=2)
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    save_reference(d, ids, logits)


def main():
    for name in ("dream-tiny", "dream-tiny-sharded", "dream-tiny-bf16", "llada-tiny"):
        shutil.rmtree(os.path.join(ROOT, name), ignore_errors=True)

    dtok = train_tokenizer(["<|endoftext|>", "<|mask|>"])
    d_eos, d_mask = dtok.token_to_id("<|endoftext|>"), dtok.token_to_id("<|mask|>")
    text = "def add(a, b):\n    return a + b\n"
    enc = dtok.encode(text).ids[: SEQ - 4]
    ids = torch.tensor([enc + [d_mask] * 3 + [d_eos]][:SEQ])
    dream(dtok, d_mask, d_eos, ids)

    ltok = train_tokenizer(["<|bos|>", "<|eot|>", "<|mdm_mask|>"])
    l_bos, l_eos, l_mask = (ltok.token_to_id(t) for t in ("<|bos|>", "<|eot|>", "<|mdm_mask|>"))
    enc = ltok.encode("fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n").ids[: SEQ - 5]
    ids = torch.tensor([[l_bos] + enc + [l_mask] * 3 + [l_eos]])
    llada(ltok, l_mask, l_eos, ids)
    print("fixtures written to", os.path.normpath(ROOT))


if __name__ == "__main__":
    main()
