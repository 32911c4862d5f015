"""Round trip of the byte-level BPE: every UTF-8 text decodes back to itself exactly.

    /work/pyenv/bin/python -m pytest models/train

Uses the trained tokenizer at $DLLM_TOKENIZER (default /work/ckpt/tokenizer.json) when it exists,
and always a small tokenizer trained here on a few lines, so the test runs without the corpus.
"""

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tokenizer as T  # noqa: E402

SAMPLES = [
    "",
    "def f(x):\n\treturn x + 1\n",
    "fn main() {\r\n    println!(\"hi\");\r\n}\r\n",
    "mixed\r\nline\nends\rhere\r\n\r\n",
    "\t\t  \t trailing spaces   \n   \n\t",
    "let größe = 3; // größe\nconst café = 'naïve';\n",
    "变量 = 1\nπ = 3.14159\nσ_x = √2\n",
    "def 関数(引数):\n    return 引数 * 2  # コメント\n",
    "emoji 🦀🐍 and ZWJ 👩‍👩‍👧‍👦 and flags 🇫🇷\n",
    "combining e\u0301 vs \u00e9, NBSP\u00a0here, BOM-like \ufeff inside\n",
    "control \x00 \x01 \x1b[31m chars \x7f\n",
    "surrogate-free astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈\n",
    "    " * 40 + "deep indent\n",
    "x" * 5000,
    "special strings in source: <|mask|> <|endoftext|> <|beginoftext|>\n",
    "func main() {\n\tfmt.Println(\"héllo, 世界\")\n}\n",
]


def tokenizers():
    out = [("tiny", T.build(300, ["def add(a, b):\n    return a + b\n", "fn main() {}\n"] * 20))]
    path = Path(os.environ.get("DLLM_TOKENIZER", "/work/ckpt/tokenizer.json"))
    if path.is_file():
        out.append(("trained", T.load(path)))
    return out


@pytest.fixture(params=tokenizers(), ids=lambda t: t[0])
def tok(request):
    return request.param[1]


def roundtrip(tok, text):
    ids = tok.encode(text, add_special_tokens=False).ids
    return tok.decode(ids, skip_special_tokens=False), ids


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(tok, text):
    back, _ = roundtrip(tok, text)
    assert back == text


def test_special_ids(tok):
    assert [tok.token_to_id(s) for s in T.SPECIALS] == [0, 1, 2]


def test_special_strings_in_text_are_plain_text(tok):
    ids = tok.encode("a <|mask|> b <|endoftext|>", add_special_tokens=False).ids
    assert not set(ids) & {0, 1, 2}


def test_random_unicode_round_trips(tok):
    rng = random.Random(0)
    ranges = [(0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x2FF), (0x370, 0x3FF), (0x4E00, 0x4FFF),
              (0x1F300, 0x1F64F), (0x10000, 0x1007F), (0xE000, 0xE0FF)]
    for _ in range(200):
        chars = []
        for _ in range(rng.randint(0, 60)):
            lo, hi = rng.choice(ranges)
            chars.append(chr(rng.randint(lo, hi)))
        text = "".join(chars)
        back, _ = roundtrip(tok, text)
        assert back == text


def test_concatenated_segments_decode_to_concatenated_text(tok):
    # The engine encodes prefix and suffix separately and decodes spans on their own.
    pre, mid, suf = "    x = compute(", "a, b", ")\n\treturn x\r\n"
    ids = sum((tok.encode(s, add_special_tokens=False).ids for s in (pre, mid, suf)), [])
    assert tok.decode(ids, skip_special_tokens=False) == pre + mid + suf


def test_decode_skips_specials(tok):
    ids = tok.encode("abc", add_special_tokens=False).ids + [0, 0]
    assert tok.decode(ids, skip_special_tokens=True) == "abc"
