"""Writes the project's default model (models/default) as a Qwen2-architecture GGUF for the
remote-engine tests, which run llama.cpp's server against it.

The default model is a Dream checkpoint, which is Qwen2's layout (biased q/k/v, SwiGLU, RMSNorm,
NeoX RoPE, tied embeddings), so its tensors map one to one. llama.cpp runs it causally, so its
answers are not good code: the tests need a real server with a real tokenizer, and determinism
(greedy decoding), not quality.

Three FIM tokens (<|fim_prefix|>, <|fim_suffix|>, <|fim_middle|>) are appended to the vocabulary,
with zero embedding rows, and named in the metadata, because llama.cpp's /infill refuses a model
without them.

Only numpy and the `gguf` package (the one llama.cpp's converter uses); the safetensors file is read
by hand (a JSON header, then raw little-endian data) so no PyTorch is needed. bf16 weights are
widened to f32, which is exact. The output is byte-identical for the same input.

    python write_gguf.py MODEL_DIR OUT.gguf
"""

import json
import struct
import sys
from pathlib import Path

import gguf
import numpy as np

FIM_TOKENS = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]
CONTEXT_LENGTH = 4096

# HF (Dream/Qwen2) tensor name suffixes -> GGUF names, per layer.
LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as f32 arrays (bf16 and f16 widened exactly)."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = body[start:end]
        dtype = info["dtype"]
        if dtype == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif dtype == "F16":
            array = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dtype == "F32":
            array = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            raise SystemExit(f"{path}: tensor {name} has dtype {dtype}, expected BF16, F16 or F32")
        tensors[name] = array.reshape(info["shape"])
    return tensors


def read_vocab(tokenizer_path: Path) -> tuple[list[str], list[int], list[str]]:
    """Tokens (by id), their GGUF types and the BPE merges of a byte-level BPE tokenizer.json."""
    tok = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    model = tok["model"]
    if model["type"] != "BPE" or tok["pre_tokenizer"].get("type") != "ByteLevel":
        raise SystemExit(f"{tokenizer_path}: expected a byte-level BPE tokenizer")
    vocab = dict(model["vocab"])
    special = {t["content"] for t in tok["added_tokens"] if t.get("special")}
    for t in tok["added_tokens"]:
        vocab[t["content"]] = t["id"]
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise SystemExit(f"{tokenizer_path}: token ids are not contiguous from 0")
    tokens = [t for t, _ in by_id]
    types = [
        int(gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL) for t in tokens
    ]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, types, merges


def write(model_dir: Path, out: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    weights = read_safetensors(model_dir / "model.safetensors")
    tokens, types, merges = read_vocab(model_dir / "tokenizer.json")
    if config.get("tie_word_embeddings") is not True:
        raise SystemExit("expected tied embeddings (no lm_head tensor is written)")

    fim_ids = list(range(len(tokens), len(tokens) + len(FIM_TOKENS)))
    tokens += FIM_TOKENS
    types += [int(gguf.TokenType.CONTROL)] * len(FIM_TOKENS)

    embed = weights.pop("model.embed_tokens.weight")
    if embed.shape[0] > fim_ids[0]:
        raise SystemExit(f"embedding has {embed.shape[0]} rows for {fim_ids[0]} tokens")
    # Rows for the tokenizer's unused ids (none today) and the FIM tokens: zero vectors.
    pad = np.zeros((len(tokens) - embed.shape[0], embed.shape[1]), dtype=np.float32)
    embed = np.concatenate([embed, pad])

    w = gguf.GGUFWriter(str(out), "qwen2")
    w.add_name("dllm-ls default model (test GGUF)")
    # llama.cpp caps each request's context at this length. The model was trained on 512 positions,
    # but a test needs streams long enough to cancel midway (~4 s at ~1000 tokens/s), and what the
    # model says past 512 does not matter.
    w.add_context_length(max(config["max_position_embeddings"], CONTEXT_LENGTH))
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config["num_key_value_heads"])
    w.add_rope_freq_base(config["rope_theta"])
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    w.add_tokenizer_model("gpt2")
    # HF ByteLevel with use_regex splits with GPT-2's pattern, which is llama.cpp's "gpt-2".
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(config["bos_token_id"])
    w.add_eos_token_id(config["eos_token_id"])
    w.add_pad_token_id(config["pad_token_id"])
    w.add_add_bos_token(False)
    w.add_uint32(gguf.Keys.Tokenizer.FIM_PRE_ID, fim_ids[0])
    w.add_uint32(gguf.Keys.Tokenizer.FIM_SUF_ID, fim_ids[1])
    w.add_uint32(gguf.Keys.Tokenizer.FIM_MID_ID, fim_ids[2])

    w.add_tensor("token_embd.weight", embed)
    w.add_tensor("output_norm.weight", weights.pop("model.norm.weight"))
    for layer in range(config["num_hidden_layers"]):
        for hf, name in LAYER_TENSORS.items():
            w.add_tensor(f"blk.{layer}.{name}", weights.pop(f"model.layers.{layer}.{hf}"))
    if weights:
        raise SystemExit(f"tensors not mapped: {sorted(weights)}")

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: write_gguf.py MODEL_DIR OUT.gguf")
    out = Path(sys.argv[2])
    tmp = out.with_name(out.name + ".tmp")
    write(Path(sys.argv[1]), tmp)
    tmp.replace(out)  # never leave half a file under the final name


if __name__ == "__main__":
    main()
