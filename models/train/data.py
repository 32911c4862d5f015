"""Training examples: masked-diffusion windows and editor-shaped infill canvases.

Two kinds of example, both `(canvas, targets)` over one sequence of at most `seq` tokens:

* **MDLM** (`mdlm_example`): a window of the pre-tokenized stream; t ~ U(eps, 1); each token is
  replaced by `<|mask|>` with probability t; the loss is cross-entropy on the masked tokens
  weighted by 1/t (the masked-diffusion ELBO), normalised by the window length.

* **Infill** (`infill_example`): built from the raw text the way the engine builds a canvas:
  the text before, between and after the holes is tokenized separately (exactly what
  `DiffusionModel::infill` does, so token boundaries at the hole edges match inference), each
  hole becomes `bucket` slots, the real span tokens followed by `<|endoftext|>` up to the bucket
  (the model learns to end a span early). Holes: the rest of a line (from its indentation or
  from a cursor inside it), 2-8 whole lines, a bracketed expression or right-hand side, an
  indented body (function / block), or two or three holes at once. Slots are masked like a
  partially decoded span: content slots with probability t; padding either all masked or
  revealed from some slot on (the engine writes pad after an end token). Loss weight 1 on
  content and the first end token, `pad_weight` on the padding after it: spend the loss on the
  span, not on predicting more padding.

The context around holes is cut like the engine's `fit_context`: what is left after the holes is
shared evenly between the two sides, a short side giving its room to the other.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

EOS_ID, MASK_ID, BOS_ID = 0, 1, 2
SERVER_BUCKETS = (24, 64, 128)  # the server's inline and block span sizes, and a long one
LANGS = ("python", "rust", "javascript", "typescript", "go")


@dataclass
class Example:
    canvas: list[int]
    # (position, target id, weight) of every slot that carries loss
    targets: list[tuple[int, int, float]]
    kind: str  # "mdlm" or "infill"
    t: float = 1.0
    n_content: int = 0  # infill: real span tokens (for reporting)


class Corpus:
    """One split: the pre-tokenized stream (npz) and the raw files (jsonl)."""

    def __init__(self, root: Path, split: str, load_text: bool = True):
        z = np.load(root / "tok" / f"{split}.npz")
        self.tokens = z["tokens"]
        self.starts = z["starts"]
        self.texts: list[str] = []
        self.langs: list[str] = []
        if load_text:
            with open(root / "files" / f"{split}.jsonl", encoding="utf-8") as f:
                for line in f:
                    d = json.loads(line)
                    self.texts.append(d["text"])
                    self.langs.append(d["lang"])
            sizes = np.array([len(t) for t in self.texts], dtype=np.float64)
            self.cum = np.cumsum(sizes / sizes.sum())

    def random_text(self, rng: random.Random) -> str:
        i = int(np.searchsorted(self.cum, rng.random()))
        return self.texts[min(i, len(self.texts) - 1)]


def stream_window(rng: random.Random, tokens: np.ndarray, seq: int) -> list[int]:
    """`seq` consecutive tokens of the packed stream, from a random start."""
    start = rng.randrange(0, max(1, len(tokens) - seq))
    return tokens[start : start + seq].astype(np.int64).tolist()


def causal_example(rng: random.Random, tokens: np.ndarray, seq: int) -> Example:
    """A window of the stream for next-token training: every position from 1 on is a target
    (read from the hidden state before it: the Dream shift is exactly next-token prediction)."""
    x = stream_window(rng, tokens, seq)
    return Example(x, [(i, x[i], 1.0) for i in range(1, len(x))], "causal", 0.0)


def mdlm_example(rng: random.Random, tokens: np.ndarray, seq: int, eps: float = 1e-3) -> Example:
    x = stream_window(rng, tokens, seq)
    t = eps + (1 - eps) * rng.random()
    canvas = list(x)
    targets = []
    for i, tok in enumerate(x):
        if rng.random() < t:
            canvas[i] = MASK_ID
            targets.append((i, tok, 1.0 / t))
    if not targets:
        i = rng.randrange(len(x))
        canvas[i] = MASK_ID
        targets.append((i, x[i], 1.0 / t))
    return Example(canvas, targets, "mdlm", t)


# ----------------------------------------------------------------------------------------------
# Picking holes in text (character ranges)

_WS = re.compile(r"[ \t]*")


class Lines:
    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.n = len(self.starts)

    def span(self, i: int) -> tuple[int, int]:
        """Line i without its newline."""
        s = self.starts[i]
        e = self.starts[i + 1] - 1 if i + 1 < self.n else len(self.text)
        if e > s and self.text[e - 1] == "\r":
            e -= 1
        return s, e

    def indent_end(self, i: int) -> int:
        s, e = self.span(i)
        return s + len(_WS.match(self.text, s, e).group())

    def indent(self, i: int) -> int:
        return self.indent_end(i) - self.span(i)[0]

    def blank(self, i: int) -> bool:
        s, e = self.span(i)
        return self.indent_end(i) >= e


def _nonblank_line(rng, lines: Lines, lo: int = 0, hi: int | None = None, tries: int = 20):
    hi = lines.n if hi is None else hi
    if hi <= lo:
        return None
    for _ in range(tries):
        i = rng.randrange(lo, hi)
        if not lines.blank(i):
            return i
    return None


def hole_line(rng, lines: Lines):
    i = _nonblank_line(rng, lines)
    if i is None:
        return None
    return lines.indent_end(i), lines.span(i)[1]


def hole_line_mid(rng, lines: Lines):
    i = _nonblank_line(rng, lines)
    if i is None:
        return None
    a, e = lines.indent_end(i), lines.span(i)[1]
    if e - a < 2:
        return a, e
    text = lines.text
    if rng.random() < 0.5:
        cuts = [j for j in range(a + 1, e) if not (text[j - 1].isalnum() or text[j - 1] == "_")]
        if cuts:
            return rng.choice(cuts), e
    return rng.randrange(a + 1, e), e


def hole_lines(rng, lines: Lines):
    k = rng.randint(2, 8)
    i = _nonblank_line(rng, lines, 0, max(1, lines.n - k))
    if i is None:
        return None
    j = min(lines.n - 1, i + k - 1)
    while j > i and lines.blank(j):
        j -= 1
    a = lines.span(i)[0] if rng.random() < 0.5 else lines.indent_end(i)
    return a, lines.span(j)[1]


_OPEN = {"(": ")", "[": "]", "{": "}"}


def hole_expr(rng, lines: Lines):
    i = _nonblank_line(rng, lines)
    if i is None:
        return None
    a0, e = lines.indent_end(i), lines.span(i)[1]
    text = lines.text
    cands = []
    for j in range(a0, e):
        c = text[j]
        if c in _OPEN:
            depth = 0
            for k in range(j, e):
                if text[k] == c:
                    depth += 1
                elif text[k] == _OPEN[c]:
                    depth -= 1
                    if depth == 0:
                        if k > j + 1:
                            cands.append((j + 1, k))
                        break
        elif c == "=" and 0 < j < e - 2 and text[j - 1] == " " and text[j + 1] == " ":
            end = e
            while end > j + 2 and text[end - 1] in ";,":
                end -= 1
            cands.append((j + 2, end))
    for kw in ("return ", "yield ", "await "):
        p = text.find(kw, a0, e)
        if p >= 0 and p + len(kw) < e:
            end = e
            while end > p + len(kw) and text[end - 1] in ";,":
                end -= 1
            cands.append((p + len(kw), end))
    cands = [c for c in cands if c[1] > c[0]]
    return rng.choice(cands) if cands else hole_line_mid(rng, lines)


def hole_block(rng, lines: Lines):
    text = lines.text
    heads = []
    for _ in range(40):
        i = rng.randrange(0, max(1, lines.n - 1))
        if lines.blank(i):
            continue
        s, e = lines.span(i)
        if text[s:e].rstrip().endswith((":", "{")):
            heads.append(i)
            break
    if not heads:
        return None
    i = heads[0]
    h = lines.indent(i)
    j = i + 1
    last = None
    while j < lines.n and (lines.blank(j) or lines.indent(j) > h):
        if not lines.blank(j):
            last = j
        j += 1
    if last is None:
        return None
    first = i + 1
    while lines.blank(first):
        first += 1
    return lines.indent_end(first), lines.span(last)[1]


HOLE_KINDS = {
    "line": (hole_line, 0.22),
    "line_mid": (hole_line_mid, 0.22),
    "lines": (hole_lines, 0.2),
    "expr": (hole_expr, 0.14),
    "block": (hole_block, 0.12),
    "multi": (None, 0.10),
}


def pick_holes(rng, text: str) -> list[tuple[int, int]] | None:
    lines = Lines(text)
    names = list(HOLE_KINDS)
    kind = rng.choices(names, weights=[HOLE_KINDS[k][1] for k in names])[0]
    if kind != "multi":
        h = HOLE_KINDS[kind][0](rng, lines)
        return [h] if h and h[1] > h[0] else None
    holes = []
    for _ in range(rng.randint(2, 3)):
        h = rng.choice([hole_line, hole_line_mid, hole_expr])(rng, lines)
        if h and h[1] > h[0] and all(h[1] < a - 1 or h[0] > b + 1 for a, b in holes):
            holes.append(h)
    holes.sort()
    return holes or None


def bucket_for(rng, n: int, max_span: int) -> int:
    """The canvas length of a span of `n` tokens: mostly the server's budgets, else a little more
    than the span, else anything up to a bucket's worth more (budgets are configurable, and a
    model that saw only the first two reads 8 masks as a span of 6-8 tokens)."""
    r = rng.random()
    if r < 0.6:
        for b in SERVER_BUCKETS:
            if n <= b <= max_span:
                return b
    if r < 0.85:
        return min(max_span, n + rng.randint(0, max(2, n // 2)))
    return min(max_span, rng.randint(n, max(2 * n, n + SERVER_BUCKETS[0])))


def fit(before: int, after: int, room: int) -> tuple[int, int]:
    """The engine's `fit_context`: tokens kept before and after the holes."""
    if before + after <= room:
        return before, after
    keep_before = min(before, room - min(after, room // 2))
    return keep_before, min(after, room - keep_before)


def _context(text: str, start: int, end: int, tok, seq: int, room: int):
    """Token ids of the text before `start` and after `end`, and how many of each the canvas
    keeps (`fit`). Tokenizing is most of a batch's cost, so a narrow window of characters is
    tried first; a side whose window ran out while the canvas still wanted more is tokenized
    again from a wide one (about 5 characters per token covers indented code). A window's cut
    can split a word into other tokens than the whole text gives, so the tokens next to a cut
    count as missing."""
    margin = 16
    for width in (5 * seq // 2, 5 * seq):
        lo, hi = max(0, start - width), min(len(text), end + width)
        before, after = (e.ids for e in tok.encode_batch_fast([text[lo:start], text[end:hi]], add_special_tokens=False))
        keep_before, keep_after = fit(len(before), len(after), room)
        short = ((lo > 0 and keep_before > len(before) - margin)
                 or (hi < len(text) and keep_after > len(after) - margin))
        if not short:
            break
    return before, after, keep_before, keep_after


def infill_example(rng: random.Random, corpus: Corpus, tok, seq: int, max_span: int = 128,
                   pad_weight: float = 0.1, eps: float = 1e-3, tries: int = 20) -> Example | None:
    for _ in range(tries):
        text = corpus.random_text(rng)
        if len(text) < 20:
            continue
        holes = pick_holes(rng, text)
        if not holes:
            continue
        mids = [text[a:b] for a, b in holes]
        for k in range(len(holes) - 1):
            mids.insert(2 * k + 1, text[holes[k][1] : holes[k + 1][0]])
        inner_ids = [e.ids for e in tok.encode_batch_fast(mids, add_special_tokens=False)]
        spans = inner_ids[0::2]
        if any(len(s) == 0 or len(s) > max_span for s in spans):
            continue
        buckets = [bucket_for(rng, len(s), max_span) for s in spans]
        inner = sum(buckets) + sum(len(m) for m in inner_ids[1::2])
        limit = seq if rng.random() < 0.8 else rng.randint(inner, seq) if inner <= seq else seq
        if inner > limit:
            continue
        before, after, keep_before, keep_after = _context(text, holes[0][0], holes[-1][1], tok, seq, limit - inner)
        canvas = list(before[len(before) - keep_before :])
        targets = []
        t = eps + (1 - eps) * rng.random()
        n_content = 0
        for k, (span, b) in enumerate(zip(spans, buckets)):
            s0 = len(canvas)
            n = len(span)
            gold = span + [EOS_ID] * (b - n)
            slot = [MASK_ID if rng.random() < t else g for g in gold[:n]]
            # padding: all masked, or revealed from some slot on (as after a committed end token)
            k_rev = b if rng.random() < t else rng.randint(n, b)
            slot += [MASK_ID if j < k_rev else EOS_ID for j in range(n, b)]
            for j, g in enumerate(gold):
                if slot[j] == MASK_ID:
                    w = 1.0 if j <= n else pad_weight
                    targets.append((s0 + j, g, w))
            n_content += n
            canvas += slot
            if k + 1 < len(spans):
                canvas += inner_ids[2 * k + 1]
        canvas += after[:keep_after]
        if not targets:
            continue
        return Example(canvas, targets, "infill", t, n_content)
    return None


def collate(examples: list[Example], seq: int):
    """Tensors for one batch: tokens [b, seq] (padded with EOS), key mask [b, seq] (None when
    nothing is padded), and flat target arrays (batch index, position, id, weight, kind)."""
    b = len(examples)
    tokens = torch.full((b, seq), EOS_ID, dtype=torch.long)
    keep = torch.zeros((b, seq), dtype=torch.bool)
    bi, pi, ti, wi, ki = [], [], [], [], []
    for r, ex in enumerate(examples):
        n = len(ex.canvas)
        tokens[r, :n] = torch.tensor(ex.canvas, dtype=torch.long)
        keep[r, :n] = True
        for p, tgt, w in ex.targets:
            bi.append(r)
            pi.append(p)
            ti.append(tgt)
            wi.append(w)
            ki.append({"mdlm": 0, "infill": 1, "causal": 2}[ex.kind])
    return {
        "tokens": tokens,
        "key_mask": None if bool(keep.all()) else keep,
        "b": torch.tensor(bi, dtype=torch.long),
        "p": torch.tensor(pi, dtype=torch.long),
        "t": torch.tensor(ti, dtype=torch.long),
        "w": torch.tensor(wi, dtype=torch.float32),
        "k": torch.tensor(ki, dtype=torch.long),
        "n_mdlm": sum(1 for e in examples if e.kind == "mdlm"),
        "n_infill": sum(1 for e in examples if e.kind == "infill"),
        "causal": any(e.kind == "causal" for e in examples),
        "seq": seq,
    }


def make_batch(rng: random.Random, corpus: Corpus, tok, batch: int, seq: int, infill_frac: float,
               pad_weight: float, max_span: int = 128, objective: str = "diffusion"):
    if objective == "causal":
        return collate([causal_example(rng, corpus.tokens, seq) for _ in range(batch)], seq)
    n_inf = int(round(batch * infill_frac))
    exs = [mdlm_example(rng, corpus.tokens, seq) for _ in range(batch - n_inf)]
    for _ in range(n_inf):
        ex = infill_example(rng, corpus, tok, seq, max_span=max_span, pad_weight=pad_weight)
        exs.append(ex if ex is not None else mdlm_example(rng, corpus.tokens, seq))
    return collate(exs, seq)
