"""Tokenizer references: a committed corpus of prompts and the ids the reference libraries give for them.

fixtures/tokenizer/corpus.txt              ≥ 300 prompts, one JSON string per line (long prompts, full-width,
                                            accents, emoji, CJK, combining marks, repeated/leading/trailing spaces,
                                            tabs and newlines, NFKC-normalizing text, unknown characters, extra_ids)
fixtures/tokenizer/bytefallback/spiece.model  a second Unigram model (nmt_nfkc, byte_fallback, 350 pieces)
fixtures/tokenizer/expected.json           for each model (tiny = fixtures/tiny/cogvideox-2b/tokenizer, bytefallback):
                                            "spm": sentencepiece's raw ids per prompt; "t5": transformers'
                                            T5Tokenizer ids with padding="max_length", max_length=226, truncation
"""
import io
import json
import os
import random

import sentencepiece as spm
from transformers import T5Tokenizer

from .common import tiny_root

WORDS = ("a panda cat dog astronaut robot city forest ocean river mountain street sunset night rain snow fire "
         "walking running flying dancing slowly quickly cinematic realistic detailed camera pans zooms close-up "
         "wide shot golden hour neon lights reflections water waves clouds").split()
UNICODE = ["café", "naïve", "résumé", "Straße", "東京", "北京の夜", "서울", "Москва", "🐼", "🚀✨", "ｆｕｌｌｗｉｄｔｈ",
           "ＡＢＣ１２３", "e\u0301", "a\u0300\u0301", "ﬁ", "①②", "½", "Ωmega", "Ⅻ", "㎏", "\u00a0nbsp", "tab\tx",
           "line\nbreak", "ǅ", "ẞ", "𝔘𝔫𝔦", "\u200bzero-width", "ℌ", "ﾊﾝｶｸ", "👩\u200d🚀", "Ꙭ", "ᚠᛇᚻ", "\ufffd"]


def corpus():
    rnd = random.Random(4)
    prompts = ["", " ", "a", "A panda, dressed in a small, red jacket and a tiny hat, sits on a wooden stool in a serene "
               "bamboo forest. The panda's fluffy paws strum a miniature acoustic guitar, producing soft, melodic "
               "tunes. " * 6, "   leading spaces", "trailing spaces   ", "multiple    inner     spaces",
               "\ttabs\tand\nnewlines\r\n", "<extra_id_0> masked <extra_id_99>", "text</s>more", "<pad><unk>",
               "unknown ☃ ♞ ⚗ 𓀀 characters"]
    for i in range(310):
        n = rnd.randint(1, 30)
        words = [rnd.choice(WORDS) if rnd.random() < 0.75 else rnd.choice(UNICODE) for _ in range(n)]
        sep = rnd.choice([" ", " ", " ", "  ", "\t", " \n"])
        s = sep.join(words)
        if rnd.random() < 0.1:
            s = "  " + s + "   "
        if rnd.random() < 0.05:
            s = s.upper()
        prompts.append(s)
    return prompts


def train_bytefallback(folder):
    text = []
    rnd = random.Random(9)
    for i in range(4000):
        text.append(" ".join(rnd.choice(WORDS + UNICODE[:20]) for _ in range(rnd.randint(3, 12))))
    m = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=m, vocab_size=350, model_type="unigram",
                                   normalization_rule_name="nmt_nfkc", byte_fallback=True, pad_id=0, eos_id=1, unk_id=2,
                                   bos_id=-1, character_coverage=0.98, num_threads=1, shuffle_input_sentence=False)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "spiece.model"), "wb") as f:
        f.write(m.getvalue())


def generate(out):
    d = os.path.join(out, "tokenizer")
    os.makedirs(d, exist_ok=True)
    prompts = corpus()
    with open(os.path.join(d, "corpus.txt"), "w") as f:
        for p in prompts:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    train_bytefallback(os.path.join(d, "bytefallback"))
    models = {"tiny": os.path.join(tiny_root(out), "cogvideox-2b", "tokenizer", "spiece.model"),
              "bytefallback": os.path.join(d, "bytefallback", "spiece.model")}
    expected = {}
    for name, path in models.items():
        sp = spm.SentencePieceProcessor(model_file=path)
        t5 = T5Tokenizer(vocab_file=path, extra_ids=100, legacy=True) if name == "tiny" else None
        if name == "tiny":
            t5 = T5Tokenizer.from_pretrained(os.path.dirname(path))
        entry = {"spm": [sp.encode(p) for p in prompts]}
        if t5 is not None:
            entry["t5"] = [t5(p, padding="max_length", max_length=226, truncation=True, add_special_tokens=True).input_ids
                           for p in prompts]
        expected[name] = entry
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
