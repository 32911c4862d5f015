#!/usr/bin/env python3
"""Train the default masked-diffusion code model (issue 3, parts 3-4).

CPU (background, one core, bf16 autocast):
    nohup python models/train/train.py --out /work/ckpt/run1 --threads 1 > /dev/null 2>&1 &
GPU (CUDA found automatically; batch 256, worker processes, the schedule on the clock): the
two-stage recipe in one command, `bash models/train/gpu_train.sh TOK_DIR OUT_DIR`.
Resume (same --out; the saved arguments are reused unless given again):
    python models/train/train.py --out /work/ckpt/run1 --resume

Loss = MDLM loss on `1 - infill_frac` of each batch (1/t-weighted CE on masked tokens, per
window token) + `infill_weight` x infill loss on the rest (weighted mean CE over masked span
slots; see data.py). Logits are Dream-shifted: token i from the hidden state at i-1.

Writes <out>/ckpt.pt (latest, every --ckpt-minutes, atomically), <out>/train.log (one line per
--log-seconds, and validation lines), and appends the same lines to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as D  # noqa: E402
import tokenizer as T  # noqa: E402
from model import DreamModel, ModelConfig  # noqa: E402

MODEL_ARGS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "num_key_value_heads", "rope_theta", "max_position_embeddings")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/work/corpus"))
    ap.add_argument("--tokenizer", type=Path, default=Path("/work/ckpt/tokenizer.json"))
    ap.add_argument("--out", type=Path, default=Path("/work/ckpt/run1"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-from", type=Path, default=None,
                    help="start from an exported model directory (e.g. models/default): its weights, "
                         "a fresh optimizer; how training continues across machines")
    # model
    ap.add_argument("--vocab-size", type=int, default=12288)
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--intermediate-size", type=int, default=768)
    ap.add_argument("--num-hidden-layers", type=int, default=6)
    ap.add_argument("--num-attention-heads", type=int, default=4)
    ap.add_argument("--num-key-value-heads", type=int, default=2)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--max-position-embeddings", type=int, default=512)
    # optimisation
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--steps", type=int, default=60000, help="schedule horizon; then min-lr")
    ap.add_argument("--decay-frac", type=float, default=0.2, help="share of --steps spent decaying")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    # objective
    ap.add_argument("--infill-frac", type=float, default=0.5)
    ap.add_argument("--objective", choices=["diffusion", "causal"], default="diffusion",
                    help="causal: next-token training with causal attention (the autoregressive warm "
                         "start Dream and DiffuCoder use; learns far faster per token), then diffusion")
    ap.add_argument("--mdlm-loss", choices=["elbo", "flat"], default="elbo",
                    help="MDLM windows: 1/t-weighted ELBO, or mean CE per masked token (low variance)")
    ap.add_argument("--infill-weight", type=float, default=1.0)
    ap.add_argument("--pad-weight", type=float, default=0.1)
    ap.add_argument("--max-span", type=int, default=128)
    # machinery
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="batch-building processes (0: inline)")
    ap.add_argument("--no-autocast", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--log-seconds", type=float, default=60.0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-batches", type=int, default=8)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop after this long (0: never)")
    ap.add_argument("--lr-by-time", action="store_true",
                    help="run the schedule over --max-minutes of wall time (--steps maps to it): for a "
                         "fixed time budget whose step rate is not known in advance (the clock starts "
                         "with each process, so a resumed run starts the schedule again)")
    return ap


def model_config(a) -> ModelConfig:
    return ModelConfig(**{k: getattr(a, k) for k in MODEL_ARGS})


def lr_at(step: int, a) -> float:
    """Warmup, constant, then a cosine decay over the last `decay_frac` of `steps` (a run of
    unknown length can be annealed later by resuming with a smaller --steps)."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if step >= a.steps:
        return a.min_lr
    decay_start = a.steps - int(a.decay_frac * a.steps)
    if step < decay_start:
        return a.lr
    p = (step - decay_start) / max(1, a.steps - decay_start)
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * p))


def loss_terms(model: DreamModel, batch: dict, device) -> dict:
    """MDLM and infill losses of one batch (call inside autocast)."""
    tokens = batch["tokens"].to(device, non_blocking=True)
    km = batch["key_mask"]
    km = km.to(device, non_blocking=True) if km is not None else None
    h = model.hidden(tokens, km, causal=batch.get("causal", False))
    b, p, tgt, w, k = (batch[x].to(device, non_blocking=True) for x in ("b", "p", "t", "w", "k"))
    logits = model.logits_for(h, b, p).float()
    ce = F.cross_entropy(logits, tgt, reduction="none")
    out = {}
    if batch.get("causal"):
        out["causal"] = ce.mean()
        return out
    is_m = k == 0
    if batch["n_mdlm"]:
        # The ELBO (1/t-weighted, per window token): what validation compares across runs.
        out["mdlm"] = (ce[is_m] * w[is_m]).sum() / (batch["n_mdlm"] * batch["seq"])
        # Mean CE per masked token: the same minimiser (the true conditional at every masked
        # position, whatever the weighting) without the ELBO's variance, where the few tokens of a
        # window drawn at small t carry weights up to 1/eps and swamp a small batch.
        out["mdlm_flat"] = ce[is_m].mean() if is_m.any() else ce.new_zeros(())
    if batch["n_infill"]:
        wi = w[~is_m]
        out["infill"] = (ce[~is_m] * wi).sum() / wi.sum().clamp_min(1e-6)
        with torch.no_grad():
            content = (~is_m) & (tgt != D.EOS_ID)
            pads = (~is_m) & (tgt == D.EOS_ID)
            out["span_ce"] = ce[content].mean() if content.any() else ce.new_zeros(())
            out["pad_ce"] = ce[pads].mean() if pads.any() else ce.new_zeros(())
            out["span_acc"] = (logits[content].argmax(-1) == tgt[content]).float().mean() if content.any() else ce.new_zeros(())
    return out


def total_loss(terms: dict, a) -> torch.Tensor:
    if "causal" in terms:
        return terms["causal"]
    loss = terms.get("mdlm_flat" if a.mdlm_loss == "flat" else "mdlm", 0.0)
    if "infill" in terms:
        loss = loss + a.infill_weight * terms["infill"]
    return loss


def build_batch(rng: random.Random, corpus, tok, a):
    """One batch of the run's objective and shape (training, workers and validation alike)."""
    return D.make_batch(rng, corpus, tok, a.batch, a.seq, a.infill_frac, a.pad_weight, a.max_span, a.objective)


class _BatchStream(torch.utils.data.IterableDataset):
    """Endless batches, built in a worker process (batch building is Python-bound: threads
    would share one core under the GIL, too slow to feed a GPU)."""

    def __init__(self, corpus, tok, a, seed: int):
        super().__init__()
        self.corpus, self.tok, self.a, self.seed = corpus, tok, a, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        while True:
            yield build_batch(rng, self.corpus, self.tok, self.a)


class Batches:
    """Batch source: inline, or `workers` processes feeding a queue."""

    def __init__(self, corpus, tok, a, seed: int, pin: bool = False):
        self.corpus, self.tok, self.a = corpus, tok, a
        self.rng = random.Random(seed)
        self.it = None
        if a.workers:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # workers are forked
            loader = torch.utils.data.DataLoader(
                _BatchStream(corpus, tok, a, seed), batch_size=None, num_workers=a.workers,
                prefetch_factor=4, persistent_workers=True, pin_memory=pin)
            self.it = iter(loader)

    def next(self):
        if self.it is not None:
            return next(self.it)
        return build_batch(self.rng, self.corpus, self.tok, self.a)


@torch.no_grad()
def evaluate(model, corpus, tok, a, device, autocast) -> dict:
    model.eval()
    rng = random.Random(12345)  # the same validation batches every time
    sums: dict[str, float] = {}
    for _ in range(a.eval_batches):
        batch = build_batch(rng, corpus, tok, a)
        with autocast():
            terms = loss_terms(model, batch, device)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v)
    model.train()
    return {k: v / a.eval_batches for k, v in sums.items()}


def init_from_export(model: DreamModel, directory: Path) -> None:
    """Loads an exported `model.safetensors` (bf16 or f32) into `model`, whose shape must match."""
    from safetensors.torch import load_file
    tensors = {k: v.float() for k, v in load_file(str(directory / "model.safetensors")).items()}
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as e:  # a tensor of another shape
        sys.exit(f"--init-from {directory}: the model's shape differs: {e}")
    if unexpected or set(missing) - {"lm_head.weight"}:
        sys.exit(f"--init-from {directory}: shapes or names differ (missing {missing}, unexpected {unexpected})")


def save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv=None):
    ap = parse_args()
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = a.out / "ckpt.pt"
    state = None
    if a.resume:
        if not ckpt_path.exists():
            sys.exit(f"--resume: no checkpoint at {ckpt_path}")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        # Saved arguments win unless given explicitly on this command line.
        given = {x.split("=")[0].lstrip("-").replace("-", "_") for x in (argv or sys.argv[1:]) if x.startswith("--")}
        for k, v in state["args"].items():
            if k not in given and k != "resume":
                setattr(a, k, type(getattr(a, k))(v) if isinstance(getattr(a, k), Path) else v)

    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(a.device)
    if device.type == "cpu":
        torch.set_num_threads(a.threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    use_ac = not a.no_autocast

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_ac)

    logf = open(a.out / "train.log", "a", buffering=1)

    def log(msg: str):
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        logf.write(line + "\n")

    tok = T.load(a.tokenizer)
    assert tok.get_vocab_size() <= a.vocab_size, "tokenizer larger than the embedding"
    train = D.Corpus(a.data, "train")
    valid = D.Corpus(a.data, "valid")

    cfg = model_config(a)
    torch.manual_seed(a.seed)
    model = DreamModel(cfg).to(device)
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.ndim == 2 and "embed_tokens" not in n else no_decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda",
    )
    step, tokens_seen, elapsed_prev = 0, 0, 0.0
    if state is None and a.init_from is not None:
        init_from_export(model, a.init_from)
        log(f"weights from {a.init_from} (fresh optimizer)")
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, tokens_seen, elapsed_prev = state["step"], state["tokens"], state.get("elapsed", 0.0)
        log(f"resumed from {ckpt_path} at step {step}, {tokens_seen / 1e6:.2f}M tokens")
    if a.compile:  # compile the trunk; the head runs on a varying number of rows
        model.hidden = torch.compile(model.hidden)
    fwd = model

    log(f"device {device} threads {torch.get_num_threads()} autocast {use_ac}; model {json.dumps(cfg.to_dict())}")
    log(f"params {model.num_params() / 1e6:.2f}M total, {cfg.non_embedding_params() / 1e6:.2f}M non-embedding; "
        f"train {len(train.tokens) / 1e6:.1f}M tokens; args {json.dumps({k: str(v) for k, v in vars(a).items()})}")

    batches = Batches(train, tok, a, seed=a.seed * 7919 + step, pin=device.type == "cuda")
    t0 = time.time()
    last_log = last_ckpt = t0
    win = {"tokens": 0, "n": 0, "wait": 0.0}
    sums: dict[str, float] = {}

    def checkpoint():
        save(ckpt_path, {
            "model": model.state_dict(), "opt": opt.state_dict(), "step": step, "tokens": tokens_seen,
            "elapsed": elapsed_prev + time.time() - t0, "config": cfg.to_dict(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        })

    model.train()
    while True:
        ts = time.time()
        batch = batches.next()
        win["wait"] += time.time() - ts  # time spent waiting for data: is batch building the limit?
        sched_step = step
        if a.lr_by_time and a.max_minutes and step >= a.warmup:  # warmup in steps, then by the clock
            sched_step = max(a.warmup, int((ts - t0) / (a.max_minutes * 60) * a.steps))
        for g in opt.param_groups:
            g["lr"] = lr_at(sched_step, a)
        with autocast():
            terms = loss_terms(fwd, batch, device)
            loss = total_loss(terms, a)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        step += 1
        n_tok = batch["tokens"].numel() if batch["key_mask"] is None else int(batch["key_mask"].sum())
        tokens_seen += n_tok
        win["tokens"] += n_tok
        win["n"] += 1
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        sums["gnorm"] = sums.get("gnorm", 0.0) + float(gnorm)
        now = time.time()
        if now - last_log >= a.log_seconds:
            # Rates over the window's wall time (evaluation included): on CUDA a step's own
            # timing would only see kernel launches, the GPU runs behind them.
            wall = now - last_log
            avg = " ".join(f"{k} {v / win['n']:.4f}" for k, v in sorted(sums.items()))
            log(f"step {step} tokens {tokens_seen / 1e6:.3f}M lr {opt.param_groups[0]['lr']:.2e} "
                f"tok/s {win['tokens'] / wall:.0f} data-wait {100 * win['wait'] / wall:.0f}% {avg}")
            win = {"tokens": 0, "n": 0, "wait": 0.0}
            sums = {}
            last_log = now
        if step % a.eval_every == 0:
            ev = evaluate(model, valid, tok, a, device, autocast)
            log(f"valid step {step} " + " ".join(f"{k} {v:.4f}" for k, v in sorted(ev.items())))
        if now - last_ckpt >= a.ckpt_minutes * 60:
            checkpoint()
            last_ckpt = now
            log(f"checkpoint step {step} -> {ckpt_path}")
        if a.max_minutes and now - t0 >= a.max_minutes * 60:
            checkpoint()
            log(f"stopping after {a.max_minutes} minutes at step {step}")
            break


if __name__ == "__main__":
    main()
