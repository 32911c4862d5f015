#!/usr/bin/env python3
"""Byte-level BPE tokenizer of the default model (issue 3, part 2), and corpus pre-tokenization.

    python models/train/tokenizer.py train  [--corpus /work/corpus] [--vocab 12288] [--out /work/ckpt/tokenizer.json]
    python models/train/tokenizer.py encode [--corpus /work/corpus] [--tokenizer /work/ckpt/tokenizer.json]
    python models/train/tokenizer.py decode [--corpus DIR] [--tokenizer ...]   # files/ from tok/

`train` learns the BPE on the train split only. Special tokens, in this order (ids 0, 1, 2):
`<|endoftext|>` (end of span, pad, eos), `<|mask|>`, `<|beginoftext|>` (start of a file in the
packed training stream). Byte-level pre-tokenizer and decoder, no normalizer: every UTF-8 text
round-trips exactly. Special-token strings that occur in source text are encoded as plain text
(`encode_special_tokens`), so a file that mentions `<|mask|>` cannot put a mask on the canvas.

`encode` writes `<corpus>/tok/{split}.npz`: `tokens` (uint16, every file as
`<|beginoftext|>` + its tokens, concatenated), `starts` (offset of each file), `lang` (index into
LANGS per file). About 3.5 bytes of source per token; compressed, small enough to carry to a GPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"
MASK = "<|mask|>"
BOS = "<|beginoftext|>"
SPECIALS = [EOS, MASK, BOS]
LANGS = ("python", "rust", "javascript", "typescript", "go")


def build(vocab_size: int, texts) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.encode_special_tokens = True
    return tok


def load(path: str | Path) -> Tokenizer:
    tok = Tokenizer.from_file(str(path))
    tok.encode_special_tokens = True
    return tok


def iter_texts(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]


def cmd_train(args):
    tok = build(args.vocab, iter_texts(args.corpus / "files" / "train.jsonl"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out))
    for s in SPECIALS:
        print(f"{s} -> {tok.token_to_id(s)}")
    print(f"vocab {tok.get_vocab_size()} written to {args.out}")


def cmd_encode(args):
    tok = load(args.tokenizer)
    bos = tok.token_to_id(BOS)
    out = args.corpus / "tok"
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        docs = [json.loads(l) for l in open(args.corpus / "files" / f"{split}.jsonl", encoding="utf-8")]
        encs = tok.encode_batch([d["text"] for d in docs], add_special_tokens=False)
        starts, pieces, n = [], [], 0
        for e in encs:
            starts.append(n)
            pieces.append(np.array([bos] + e.ids, dtype=np.uint16))
            n += len(e.ids) + 1
        tokens = np.concatenate(pieces) if pieces else np.zeros(0, np.uint16)
        lang = np.array([LANGS.index(d["lang"]) for d in docs], dtype=np.uint8)
        np.savez_compressed(out / f"{split}.npz", tokens=tokens, starts=np.array(starts, np.int64), lang=lang)
        nbytes = sum(len(d["text"].encode()) for d in docs)
        print(f"{split}: {len(docs)} files, {nbytes / 1e6:.1f} MB -> {len(tokens) / 1e6:.2f} M tokens "
              f"({nbytes / max(1, len(tokens)):.2f} bytes/token)")


def cmd_decode(args):
    """The inverse of `encode`: files/*.jsonl (text and language) rebuilt from tok/*.npz, so only
    the compact token stream has to travel to a training machine. Byte-level BPE decodes exactly."""
    tok = load(args.tokenizer)
    out = args.corpus / "files"
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        z = np.load(args.corpus / "tok" / f"{split}.npz")
        tokens, starts = z["tokens"], z["starts"]
        ends = list(starts[1:]) + [len(tokens)]
        ids = [tokens[s + 1 : e].tolist() for s, e in zip(starts, ends)]  # each file: BOS + its tokens
        texts = tok.decode_batch(ids, skip_special_tokens=False)
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for text, lang in zip(texts, z["lang"]):
                f.write(json.dumps({"lang": LANGS[int(lang)], "text": text}, ensure_ascii=False) + "\n")
        print(f"{split}: {len(texts)} files rebuilt from {len(tokens) / 1e6:.2f} M tokens")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    t.add_argument("--vocab", type=int, default=12288)
    t.add_argument("--out", type=Path, default=Path("/work/ckpt/tokenizer.json"))
    e = sub.add_parser("encode")
    e.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    e.add_argument("--tokenizer", type=Path, default=Path("/work/ckpt/tokenizer.json"))
    d = sub.add_parser("decode")
    d.add_argument("--corpus", type=Path, default=Path("/work/corpus"))
    d.add_argument("--tokenizer", type=Path, default=Path("/work/ckpt/tokenizer.json"))
    args = ap.parse_args()
    {"train": cmd_train, "encode": cmd_encode, "decode": cmd_decode}[args.cmd](args)


if __name__ == "__main__":
    main()
