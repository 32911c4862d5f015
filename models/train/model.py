"""The bidirectional transformer of the default model, in the Dream (Qwen2-named) layout.

Parameter names are the checkpoint's tensor names, so `state_dict()` is what `export.py` writes
and what the Rust engine (`dllm_models::DiffusionModel`) reads:

    model.embed_tokens.weight
    model.layers.N.input_layernorm.weight
    model.layers.N.self_attn.{q,k,v}_proj.{weight,bias}   (biases on q/k/v only)
    model.layers.N.self_attn.o_proj.weight
    model.layers.N.post_attention_layernorm.weight
    model.layers.N.mlp.{gate,up,down}_proj.weight
    model.norm.weight
    lm_head.weight                                         (absent when tied to the embedding)

RMSNorm, rotary positions with the rotate-half convention of transformers' Qwen2/Llama, grouped
query attention (query head h reads key/value head h // group), SwiGLU, full non-causal attention.

Logits are *shifted* like Dream's: the token at position i is predicted from the hidden state at
position i-1, position 0 from position 0. `hidden()` returns position-aligned hidden states and
`logits_for(h, targets)` applies the shift; `raw_logits()` is the engine's position-aligned
`raw_logits` (row i from hidden state i).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    vocab_size: int = 12288
    hidden_size: int = 256
    intermediate_size: int = 768
    num_hidden_layers: int = 6
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_position_embeddings: int = 512
    tie_word_embeddings: bool = True
    init_std: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict:
        return asdict(self)

    def non_embedding_params(self) -> int:
        h, i = self.hidden_size, self.intermediate_size
        q = self.num_attention_heads * self.head_dim
        kv = self.num_key_value_heads * self.head_dim
        layer = h * q + 2 * h * kv + q * h + q + 2 * kv + 3 * h * i + 2 * h
        return self.num_hidden_layers * layer + h

    def forward_flops(self, seq: int, head_rows: int) -> float:
        """Multiply-adds x2 of one forward over `seq` tokens with the head on `head_rows` rows."""
        per_tok = 2 * (self.non_embedding_params())
        attn = 4 * self.num_hidden_layers * seq * seq * self.num_attention_heads * self.head_dim
        head = 2 * head_rows * self.vocab_size * self.hidden_size
        return per_tok * seq + attn + head


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.num_attention_heads * d, bias=True)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.num_key_value_heads * d, bias=True)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.num_key_value_heads * d, bias=True)
        self.o_proj = nn.Linear(cfg.num_attention_heads * d, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, key_mask, causal=False):
        b, t, _ = x.shape
        cfg = self.cfg
        d = cfg.head_dim
        q = self.q_proj(x).view(b, t, cfg.num_attention_heads, d).transpose(1, 2)
        k = self.k_proj(x).view(b, t, cfg.num_key_value_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(b, t, cfg.num_key_value_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = cfg.num_attention_heads // cfg.num_key_value_heads
        if group > 1:
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
        mask = None
        if key_mask is not None:  # [b, t] True = attend; full attention otherwise
            mask = key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, key_mask, causal=False):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, key_mask, causal)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class DreamModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float64) / cfg.head_dim))
        self.register_buffer("inv_freq", inv_freq.float(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                # GPT-2 style: residual projections scaled by depth.
                nn.init.normal_(p, std=std / math.sqrt(2 * self.cfg.num_hidden_layers))
            else:
                nn.init.normal_(p, std=std)

    def rotary(self, t: int, device):
        pos = torch.arange(t, device=device, dtype=torch.float64)
        freqs = torch.outer(pos, self.inv_freq.double())
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().float()[None, None], emb.sin().float()[None, None]

    def hidden(self, tokens: torch.Tensor, key_mask: torch.Tensor | None = None,
               causal: bool = False) -> torch.Tensor:
        """Final-normed hidden states [b, t, h], position-aligned. `causal` (no key mask): each
        position sees only itself and what precedes it, for the autoregressive warm start."""
        assert not (causal and key_mask is not None), "causal windows are never padded"
        cos, sin = self.rotary(tokens.shape[1], tokens.device)
        x = self.model.embed_tokens(tokens)
        if torch.is_autocast_enabled(x.device.type):
            dt = torch.get_autocast_dtype(x.device.type)
            cos, sin = cos.to(dt), sin.to(dt)
        for layer in self.model.layers:
            x = layer(x, cos, sin, key_mask, causal)
        return self.model.norm(x)

    def logits_for(self, h: torch.Tensor, batch_idx: torch.Tensor, pos_idx: torch.Tensor) -> torch.Tensor:
        """Logits predicting the tokens at (batch_idx, pos_idx): read from the hidden state at
        pos - 1 (position 0 from 0), the Dream shift. The head runs only on these rows."""
        rows = (pos_idx - 1).clamp_min(0)
        return self.lm_head(h[batch_idx, rows])

    def raw_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """[b, t, vocab], row i from hidden state i (the engine's `raw_logits`)."""
        return self.lm_head(self.hidden(tokens))

    def predict_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """[b, t, vocab], row i predicts token i (shift applied)."""
        logits = self.raw_logits(tokens)
        return torch.cat([logits[:, :1], logits[:, :-1]], dim=1)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
