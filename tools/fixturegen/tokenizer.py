"""Tokenizer references: a committed corpus of prompts and the ids the reference libraries give for them.

fixtures/tokenizer/corpus.txt                  ≥ 300 prompts, one JSON string per line (long prompts, full-width,
                                                accents, emoji, CJK, combining marks, repeated/leading/trailing
                                                spaces, tabs and newlines, NFKC-normalizing text, unknown
                                                characters, extra_ids, literal "<0x41>" and "▁", Unicode spaces)
fixtures/tokenizer/bytefallback/spiece.model   a Unigram model (nmt_nfkc, byte_fallback, 350 pieces)
fixtures/tokenizer/multilingual/spiece.model   a Unigram model (nmt_nfkc, no byte fallback, 3000 pieces) trained on
                                                generated multilingual text (Latin with accents, CJK, Cyrillic, emoji)
fixtures/tokenizer/<model>/tokenizer.json      for tiny and multilingual: the `tokenizers` pipeline transformers'
                                                T5Tokenizer builds from spiece.model (saved from backend_tokenizer);
                                                for bytefallback: the transformers 4.x layout found on the Hub
                                                (Sequence[Precompiled, Replace " {2,}"], Metaspace with
                                                add_prefix_space) with byte_fallback on
fixtures/tokenizer/expected.json               per model (tiny = fixtures/tiny/cogvideox-2b/tokenizer, bytefallback,
                                                multilingual), per prompt:
                                                "spm": sentencepiece's raw ids (encode);
                                                "t5": transformers' T5Tokenizer.from_pretrained(spiece.model folder)
                                                      ids with padding="max_length", max_length=226, truncation=True;
                                                "json": the `tokenizers` library on tokenizer.json with truncation and
                                                      padding to 226 (`<pad>`)
                                                "t5" and "json" are stored without their trailing `<pad>` (0) ids:
                                                every list is 226 long and ends with `</s>` (1) before the
                                                padding, so re-padding with 0 to 226 restores it exactly
"""
import io
import json
import os
import random
import shutil
import tempfile

import sentencepiece as spm
from tokenizers import Tokenizer
from transformers import T5Tokenizer

from .common import tiny_root

WORDS = ("a panda cat dog astronaut robot city forest ocean river mountain street sunset night rain snow fire "
         "walking running flying dancing slowly quickly cinematic realistic detailed camera pans zooms close-up "
         "wide shot golden hour neon lights reflections water waves clouds").split()
UNICODE = ["café", "naïve", "résumé", "Straße", "東京", "北京の夜", "서울", "Москва", "🐼", "🚀✨", "ｆｕｌｌｗｉｄｔｈ",
           "ＡＢＣ１２３", "e\u0301", "a\u0300\u0301", "ﬁ", "①②", "½", "Ωmega", "Ⅻ", "㎏", "\u00a0nbsp", "tab\tx",
           "line\nbreak", "ǅ", "ẞ", "𝔘𝔫𝔦", "\u200bzero-width", "ℌ", "ﾊﾝｶｸ", "👩\u200d🚀", "Ꙭ", "ᚠᛇᚻ", "\ufffd"]
# Prompts added after the first 322 (kept in order so the earlier lines never change): inputs on which
# sentencepiece and the `tokenizers` pipeline of transformers are known to differ or that exercise rare paths.
EXTRA = ["<0x41> is a byte piece written as text", "▁literal ▁▁metaspace▁ marks▁", "ﾊﾞｶﾞﾊﾟ half-width voiced",
         "crlf\r\nline", "ideographic\u3000space", "ogham\u1680space", "next\u0085line", "line\u2028separator",
         "em\u2003space and thin\u2009space", "narrow\u202fnbsp", "\u3000\u3000leading ideographic",
         "family 👨\u200d👩\u200d👧\u200d👦 emoji", "flag 🇯🇵🇫🇷", "skin 👍🏽", "keycap 1\ufe0f\u20e3",
         "o\u0308\u0301\u0323 stacked marks", "ㄱㅏ 한국어 텍스트", "가\u11a8 jamo", "ﾃﾞｨｽﾞﾆｰ", "x" * 500,
         " ".join(["word"] * 400), "<extra_id_0><extra_id_1>", "a<extra_id_5>b", " <extra_id_3> ", "<extra_id_100>",
         "<extra_id_-1> <extra_id_01>", "</s></s>", "<pad>text<pad>", "<s> bos", "<unk>unknown", "<0xFF><0x00>",
         "Ａ\u3000Ｂ", "ﬃ ﬄ ﬅ", "™ ℠ ℡", "¼ ⅓ ⅞", "Ⅰ Ⅱ Ⅲ ⅳ", "⁰¹²³ ₀₁₂", "㈱ ㍻ ㌔", "🅰🅱", "ℍ𝕖𝕝𝕝𝕠",
         "Ǆ ǆ ǅ", "İstanbul ıi", "ΣΑΣ σας", "Ａ ＢＣ\tＤ\nＥ", "\x00nul\x01ctl\x7f", "\ufeffbom", "soft\u00adhyphen",
         "\u200c\u200dzw joiners", "tab\t\t\tmany", "\n\n\n", "\t", "  \u3000  ", "\U0001F600" * 30,
         "汉字" * 150, "Привет мир, как дела?", "Ελληνικά κείμενα", "עברית", "العربية", "हिन्दी", "ไทย",
         "<extra_id_1>\u0301 mark after a special", "a\u200d<extra_id_2>b", "▁\u200d▁ zwj after metaspace",
         "<extra_id_4>\u200dx", "e\u0301<pad>\u0301"]


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
    return prompts + EXTRA


def train(folder, vocab_size, byte_fallback, text):
    m = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=m, vocab_size=vocab_size,
                                   model_type="unigram", normalization_rule_name="nmt_nfkc",
                                   byte_fallback=byte_fallback, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   character_coverage=0.98, num_threads=1, shuffle_input_sentence=False)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "spiece.model"), "wb") as f:
        f.write(m.getvalue())


def bytefallback_text():
    rnd = random.Random(9)
    return [" ".join(rnd.choice(WORDS + UNICODE[:20]) for _ in range(rnd.randint(3, 12))) for _ in range(4000)]


def multilingual_text():
    rnd = random.Random(11)
    syll = ["ka", "ri", "mo", "zu", "the", "ing", "ver", "sch", "tion", "qu", "é", "è", "ü", "ñ", "ø", "ł", "ç"]
    cjk = [chr(c) for c in range(0x4E00, 0x4E00 + 600)] + [chr(c) for c in range(0x3041, 0x3097)]
    cyr = [chr(c) for c in range(0x0430, 0x0450)]
    emoji = ["🐼", "🚀", "✨", "🎸", "🌊", "🔥", "🌸", "👩\u200d🚀"]
    lines = []
    for _ in range(12000):
        words = []
        for _ in range(rnd.randint(4, 16)):
            r = rnd.random()
            if r < 0.45:
                words.append(rnd.choice(WORDS))
            elif r < 0.65:
                words.append("".join(rnd.choice(syll) for _ in range(rnd.randint(1, 4))))
            elif r < 0.85:
                words.append("".join(rnd.choice(cjk[:rnd.choice([60, 200, 650])]) for _ in range(rnd.randint(1, 5))))
            elif r < 0.95:
                words.append("".join(rnd.choice(cyr) for _ in range(rnd.randint(2, 8))))
            else:
                words.append(rnd.choice(emoji))
        lines.append(" ".join(words))
    return lines


def save_transformers_json(model_file, out):
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(model_file, os.path.join(d, "spiece.model"))
        T5Tokenizer.from_pretrained(d).backend_tokenizer.save(out, pretty=False)


def save_legacy_json(model_file, out):
    """The transformers 4.x layout of T5's tokenizer.json (as on the Hub), here with byte_fallback on."""
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(model_file, os.path.join(d, "spiece.model"))
        j = json.loads(T5Tokenizer.from_pretrained(d).backend_tokenizer.to_str())
    j["normalizer"] = {"type": "Sequence", "normalizers": [
        j["normalizer"], {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True,
                          "prepend_scheme": "always", "split": True}
    j["model"]["byte_fallback"] = True
    Tokenizer.from_str(json.dumps(j)).save(out, pretty=False)


def unpad(ids):
    assert len(ids) == 226
    n = len(ids)
    while ids[n - 1] == 0:
        n -= 1
    assert ids[n - 1] == 1
    return ids[:n]


def generate(out):
    d = os.path.join(out, "tokenizer")
    os.makedirs(d, exist_ok=True)
    prompts = corpus()
    with open(os.path.join(d, "corpus.txt"), "w") as f:
        for p in prompts:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    train(os.path.join(d, "bytefallback"), 350, True, bytefallback_text())
    train(os.path.join(d, "multilingual"), 3000, False, multilingual_text())
    models = {"tiny": os.path.join(tiny_root(out), "cogvideox-2b", "tokenizer", "spiece.model"),
              "bytefallback": os.path.join(d, "bytefallback", "spiece.model"),
              "multilingual": os.path.join(d, "multilingual", "spiece.model")}
    expected = {}
    for name, path in models.items():
        os.makedirs(os.path.join(d, name), exist_ok=True)
        json_path = os.path.join(d, name, "tokenizer.json")
        (save_legacy_json if name == "bytefallback" else save_transformers_json)(path, json_path)
        sp = spm.SentencePieceProcessor(model_file=path)
        t5 = T5Tokenizer.from_pretrained(os.path.dirname(path))
        fast = Tokenizer.from_file(json_path)
        fast.enable_truncation(226)
        fast.enable_padding(length=226, pad_id=0, pad_token="<pad>")
        expected[name] = {
            "spm": [sp.encode(p) for p in prompts],
            "t5": [unpad(t5(p, padding="max_length", max_length=226, truncation=True).input_ids) for p in prompts],
            "json": [unpad(e.ids) for e in fast.encode_batch(prompts)],
        }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
