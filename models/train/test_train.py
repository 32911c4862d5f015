"""One training step on a tiny model, the Dream logit shift, infill examples, and export.

    /work/pyenv/bin/python -m pytest models/train

Needs torch, tokenizers, safetensors, numpy; not the corpus (a small corpus is made here).
"""

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data as D  # noqa: E402
import export as E  # noqa: E402
import tokenizer as T  # noqa: E402
import train as TR  # noqa: E402
from model import DreamModel, ModelConfig  # noqa: E402

CODE = [
    "def add(a, b):\n    return a + b\n\n\nclass Stack:\n    def __init__(self):\n        self.items = []\n\n"
    "    def push(self, x):\n        self.items.append(x)\n\n    def pop(self):\n        return self.items.pop()\n",
    "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\nfn main() {\n    let xs = vec![1, 2, 3];\n"
    "    for x in &xs {\n        println!(\"{}\", add(*x, 1));\n    }\n}\n",
    "function sum(xs) {\n  let s = 0;\n  for (const x of xs) {\n    s += x;\n  }\n  return s;\n}\n",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := 0; i < 3; i++ {\n\t\tfmt.Println(i)\n\t}\n}\n",
]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "files").mkdir()
    langs = ["python", "rust", "javascript", "go"]
    for split in ("train", "valid", "test"):
        with open(root / "files" / f"{split}.jsonl", "w") as f:
            for i, (text, lang) in enumerate(zip(CODE * 3, langs * 3)):
                f.write(json.dumps({"pkg": f"t:{i}", "path": f"f{i}", "lang": lang, "text": text}) + "\n")
    tok = T.build(400, CODE * 10)
    tok.save(str(root / "tokenizer.json"))
    import types
    T.cmd_encode(types.SimpleNamespace(corpus=root, tokenizer=root / "tokenizer.json"))
    return root


def tiny_config(vocab=400, tied=True):
    return ModelConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                       tie_word_embeddings=tied)


def test_shift_reads_token_i_from_position_i_minus_1():
    torch.manual_seed(0)
    m = DreamModel(tiny_config()).eval()
    x = torch.randint(3, 400, (2, 10))
    with torch.no_grad():
        raw = m.raw_logits(x)
        pred = m.predict_logits(x)
        h = m.hidden(x)
        b = torch.tensor([0, 0, 1])
        p = torch.tensor([0, 1, 9])
        sel = m.logits_for(h, b, p)
    assert torch.allclose(pred[:, 0], raw[:, 0])
    assert torch.allclose(pred[:, 1:], raw[:, :-1])
    assert torch.allclose(sel, torch.stack([raw[0, 0], raw[0, 0], raw[1, 8]]), atol=1e-5)


def test_attention_is_bidirectional():
    torch.manual_seed(0)
    m = DreamModel(tiny_config()).eval()
    x = torch.randint(3, 400, (1, 12))
    y = x.clone()
    y[0, -1] = (y[0, -1] + 1) % 400
    with torch.no_grad():
        # changing the last token changes the first position's output
        assert not torch.allclose(m.raw_logits(x)[0, 0], m.raw_logits(y)[0, 0])


def test_causal_attention_hides_the_future_and_keeps_the_shift():
    torch.manual_seed(0)
    m = DreamModel(tiny_config()).eval()
    x = torch.randint(3, 400, (1, 12))
    y = x.clone()
    y[0, 6] = (y[0, 6] + 1) % 400
    with torch.no_grad():
        hx, hy = m.hidden(x, causal=True), m.hidden(y, causal=True)
    # positions before the change see nothing of it; from it on they do
    assert torch.allclose(hx[0, :6], hy[0, :6], atol=1e-6)
    assert not torch.allclose(hx[0, 6], hy[0, 6])


def test_causal_batches_train_next_token_prediction(corpus_dir):
    tok = T.load(corpus_dir / "tokenizer.json")
    c = D.Corpus(corpus_dir, "train")
    batch = D.make_batch(random.Random(1), c, tok, batch=4, seq=32, infill_frac=0.5, pad_weight=0.1,
                         objective="causal")
    assert batch["causal"] and batch["key_mask"] is None
    # every position from 1 on is a target holding the token at that position
    assert len(batch["p"]) == 4 * 31
    assert torch.equal(batch["tokens"][batch["b"], batch["p"]], batch["t"])
    torch.manual_seed(0)
    m = DreamModel(tiny_config())
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)

    class A:
        infill_weight = 1.0
        mdlm_loss = "elbo"

    losses = []
    for _ in range(15):
        terms = TR.loss_terms(m, batch, "cpu")
        assert set(terms) == {"causal"}
        loss = TR.total_loss(terms, A)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_infill_examples_are_engine_shaped(corpus_dir):
    tok = T.load(corpus_dir / "tokenizer.json")
    c = D.Corpus(corpus_dir, "train")
    rng = random.Random(0)
    n = 0
    for _ in range(50):
        ex = D.infill_example(rng, c, tok, 96, max_span=32)
        if ex is None:
            continue
        n += 1
        assert len(ex.canvas) <= 96
        for p, t, w in ex.targets:
            assert ex.canvas[p] == D.MASK_ID
            assert w > 0
            if t != D.EOS_ID:
                assert w == 1.0
    assert n > 10


def test_span_buckets_cover_budgets_between_the_servers():
    """A one-token span is trained in canvases of every length from 1 to past the inline budget,
    not only 1-3 and 24, and never beyond max_span."""
    rng = random.Random(0)
    seen = {D.bucket_for(rng, 1, 128) for _ in range(3000)}
    assert set(range(1, 25)) <= seen
    assert max(D.bucket_for(rng, 100, 128) for _ in range(3000)) == 128
    assert all(D.bucket_for(rng, n, 32) >= n for n in range(1, 33) for _ in range(20))


def test_context_from_a_narrow_window_matches_the_wide_one(corpus_dir):
    """The canvas context is tokenized from a narrow window first (speed): the tokens it keeps
    must be those the whole text's window gives, including where the narrow window runs out."""
    tok = T.load(corpus_dir / "tokenizer.json")
    text = "\n".join(CODE * 6)  # long enough that a seq of 64 cuts both sides
    rng = random.Random(3)
    for _ in range(200):
        start = rng.randrange(len(text))
        end = min(len(text), start + rng.randrange(40))
        room = rng.randrange(1, 64)
        before, after, kb, ka = D._context(text, start, end, tok, 32, room)
        full_b, full_a = (e.ids for e in tok.encode_batch([text[:start], text[end:]], add_special_tokens=False))
        assert (kb, ka) == D.fit(len(full_b), len(full_a), room)
        assert before[len(before) - kb :] == full_b[len(full_b) - kb :], (len(before), kb, len(full_b), start, room)
        assert after[:ka] == full_a[:ka]


def test_training_step_loss_finite_and_decreases(corpus_dir):
    tok = T.load(corpus_dir / "tokenizer.json")
    c = D.Corpus(corpus_dir, "train")
    torch.manual_seed(0)
    m = DreamModel(tiny_config())
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    batch = D.make_batch(random.Random(1), c, tok, batch=8, seq=64, infill_frac=0.5, pad_weight=0.1, max_span=32)
    assert batch["n_infill"] > 0 and batch["n_mdlm"] > 0

    class A:
        infill_weight = 1.0
        mdlm_loss = "elbo"

    losses = []
    for _ in range(15):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            terms = TR.loss_terms(m, batch, "cpu")
            loss = TR.total_loss(terms, A)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_train_script_runs_and_resumes(corpus_dir, tmp_path):
    args = ["--data", str(corpus_dir), "--tokenizer", str(corpus_dir / "tokenizer.json"), "--out", str(tmp_path),
            "--vocab-size", "400", "--hidden-size", "32", "--intermediate-size", "64", "--num-hidden-layers", "1",
            "--num-attention-heads", "2", "--num-key-value-heads", "1", "--seq", "64", "--batch", "4",
            "--max-span", "16", "--max-minutes", "0.02", "--eval-every", "5", "--eval-batches", "1",
            "--log-seconds", "0", "--warmup", "2"]
    TR.main(args)
    s1 = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    TR.main(["--out", str(tmp_path), "--resume", "--max-minutes", "0.02",
             "--data", str(corpus_dir), "--tokenizer", str(corpus_dir / "tokenizer.json")])
    s2 = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert s2["step"] > s1["step"] and s2["config"] == s1["config"]
    assert "resumed" in (tmp_path / "train.log").read_text()


@pytest.mark.parametrize("tied", [True, False])
def test_export_names_shapes_and_reload(corpus_dir, tmp_path, tied):
    cfg = tiny_config(tied=tied)
    torch.manual_seed(0)
    m = DreamModel(cfg).eval()
    out = E.export_model(m, corpus_dir / "tokenizer.json", tmp_path / "exp", "f32")
    conf = json.loads((out / "config.json").read_text())
    assert conf["model_type"] == "Dream" and conf["architectures"] == ["DreamModel"]
    assert conf["mask_token_id"] == 1 and conf["eos_token_id"] == 0 and conf["pad_token_id"] == 0
    assert conf["bos_token_id"] == 2 and conf["hidden_act"] == "silu"
    assert conf["tie_word_embeddings"] == tied
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["mask_token_id"] == 1
    tc = json.loads((out / "tokenizer_config.json").read_text())
    assert tc["mask_token"] == "<|mask|>" and tc["eos_token"] == "<|endoftext|>"
    t = load_file(str(out / "model.safetensors"))
    h, i, d = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
    kv = cfg.num_key_value_heads * d
    expect = {"model.embed_tokens.weight": (cfg.vocab_size, h), "model.norm.weight": (h,)}
    if not tied:
        expect["lm_head.weight"] = (cfg.vocab_size, h)
    for l in range(cfg.num_hidden_layers):
        p = f"model.layers.{l}."
        expect.update({
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (h, h), p + "self_attn.q_proj.bias": (h,),
            p + "self_attn.k_proj.weight": (kv, h), p + "self_attn.k_proj.bias": (kv,),
            p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.v_proj.bias": (kv,),
            p + "self_attn.o_proj.weight": (h, h),
            p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h), p + "mlp.down_proj.weight": (h, i),
        })
    assert {k: tuple(v.shape) for k, v in t.items()} == expect
    # reload into a fresh model: same logits
    m2 = DreamModel(cfg).eval()
    missing, unexpected = m2.load_state_dict(t, strict=False)
    assert unexpected == [] and set(missing) <= {"lm_head.weight"}
    if tied:
        assert m2.lm_head.weight.data_ptr() == m2.model.embed_tokens.weight.data_ptr()
    x = torch.randint(3, cfg.vocab_size, (1, 20))
    with torch.no_grad():
        assert torch.allclose(m.raw_logits(x), m2.raw_logits(x), atol=1e-5)
    # bf16 export is half the size
    out16 = E.export_model(m, corpus_dir / "tokenizer.json", tmp_path / "exp16", "bf16")
    t16 = load_file(str(out16 / "model.safetensors"))
    assert all(v.dtype == torch.bfloat16 for v in t16.values())


def test_training_continues_from_an_exported_model(corpus_dir, tmp_path):
    # Checkpoints do not survive a new machine; the committed export does: --init-from starts
    # a run from its weights.
    torch.manual_seed(1)
    cfg = ModelConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    m = DreamModel(cfg).eval()
    out = E.export_model(m, corpus_dir / "tokenizer.json", tmp_path / "exp", "f32")
    fresh = DreamModel(cfg).eval()
    TR.init_from_export(fresh, out)
    x = torch.randint(3, 400, (1, 16))
    with torch.no_grad():
        assert torch.allclose(m.raw_logits(x), fresh.raw_logits(x), atol=1e-6)
    run = tmp_path / "run"
    TR.main(["--data", str(corpus_dir), "--tokenizer", str(corpus_dir / "tokenizer.json"), "--out", str(run),
             "--vocab-size", "400", "--hidden-size", "32", "--intermediate-size", "64", "--num-hidden-layers", "1",
             "--num-attention-heads", "2", "--num-key-value-heads", "1", "--seq", "64", "--batch", "4",
             "--max-position-embeddings", "64", "--max-span", "16", "--max-minutes", "0.01",
             "--eval-every", "1000", "--log-seconds", "0", "--init-from", str(out)])
    assert "weights from" in (run / "train.log").read_text()
    # a model of another shape is refused
    other = DreamModel(ModelConfig(vocab_size=400, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=1))
    with pytest.raises((SystemExit, RuntimeError)):
        TR.init_from_export(other, out)


def test_decode_rebuilds_the_files_from_the_token_stream(corpus_dir, tmp_path):
    # A GPU machine gets only tok/*.npz; the infill examples need the text back, exactly.
    import shutil
    import types
    shutil.copytree(corpus_dir / "tok", tmp_path / "tok")
    T.cmd_decode(types.SimpleNamespace(corpus=tmp_path, tokenizer=corpus_dir / "tokenizer.json"))
    for split in ("train", "valid", "test"):
        want = [json.loads(l) for l in open(corpus_dir / "files" / f"{split}.jsonl")]
        got = [json.loads(l) for l in open(tmp_path / "files" / f"{split}.jsonl")]
        assert [(d["lang"], d["text"]) for d in got] == [(d["lang"], d["text"]) for d in want]


def test_worker_processes_and_a_clock_schedule(corpus_dir, tmp_path):
    # The GPU recipe: batches from worker processes, the lr schedule run over --max-minutes.
    TR.main(["--data", str(corpus_dir), "--tokenizer", str(corpus_dir / "tokenizer.json"), "--out", str(tmp_path),
             "--vocab-size", "400", "--hidden-size", "32", "--intermediate-size", "64", "--num-hidden-layers", "1",
             "--num-attention-heads", "2", "--num-key-value-heads", "1", "--seq", "64", "--batch", "4",
             "--max-span", "16", "--max-minutes", "0.05", "--eval-every", "1000", "--log-seconds", "0",
             "--workers", "2", "--lr-by-time", "--warmup", "2", "--steps", "1000", "--decay-frac", "1.0",
             "--lr", "1e-3", "--min-lr", "1e-5"])
    lrs = [float(l.split(" lr ")[1].split()[0]) for l in (tmp_path / "train.log").read_text().splitlines()
           if " lr " in l]
    assert len(lrs) > 4 and lrs[-1] < 0.5 * max(lrs), lrs  # decayed on the clock, not the step count


def test_export_eval_scores_exports_on_fixed_batches(corpus_dir, tmp_path):
    # Runs are compared by scoring their exports on the same validation batches.
    import export_eval as EV
    torch.manual_seed(3)
    cfg = ModelConfig(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    a = E.export_model(DreamModel(cfg).eval(), corpus_dir / "tokenizer.json", tmp_path / "a", "f32")
    b = E.export_model(DreamModel(cfg).eval(), corpus_dir / "tokenizer.json", tmp_path / "b", "f32")
    first = EV.score(a, corpus_dir, batches=2, batch=4, seq=64)
    assert set(first) >= {"span_ce", "span_acc", "mdlm"} and all(np.isfinite(v) for v in first.values())
    # the same batches every time: the same export scores the same; another model differently
    assert EV.score(a, corpus_dir, batches=2, batch=4, seq=64) == first
    assert EV.score(b, corpus_dir, batches=2, batch=4, seq=64)["span_ce"] != first["span_ce"]


def test_compare_dumps_pairs_holes_and_rejects_other_holes():
    import compare_dumps as C
    old = [{"path": f"p{i}", "truth": "t", "kind": "line", "model_es": float(i % 7)} for i in range(50)]
    new = [dict(h, model_es=h["model_es"] + 2.0) for h in old]
    r = C.paired(old, new)["line"]
    # every hole 2 points better: the interval is exactly that
    assert r["n"] == 50 and r["es"] == (2.0, 2.0, 2.0)
    assert r["changed"] == 0 and r["gate"] == (0.0, 0.0, 0.0)
    new[3]["model_es"] = None  # no answer scores 0
    assert C.paired(old, new)["line"]["es"][0] < 2.0
    # answers changed, and the gate's score moved on those holes only
    for i in (1, 2):
        new[i] = dict(new[i], model="other", scores={"min_with_end": 0.5})
    r = C.paired(old, new)["line"]
    assert r["changed"] == 2 and r["gate"][0] == 2 * 0.5 / 50
    summary = {"cells": [{"kind": "line", "model": {"n": 30, "parses": 0.5}},
                         {"kind": "line", "model": {"n": 10, "parses": 1.0}}]}
    assert C.parse_rates(summary) == {"line": (15 + 10) / 40}
    with pytest.raises(SystemExit):
        C.paired(old, new[:-1])
