"""The tokenizer parity corpus: more than 1 MB of real text, built offline from what a fresh machine has.

Sources, in this order (each skipped if absent, so the size is checked by the tests that use it):

1. the license texts of Debian's /usr/share/common-licenses (English legal prose), each file whole (documents of
   up to 35k characters) and paragraph by paragraph: ~470k characters;
2. docstrings of the Python standard library's top-level modules (English technical prose with code): ~300k;
3. the string literals of Faker's locale providers (pinned test dependency `faker`): names, addresses, words and
   lorem text in ~70 locales, in Cyrillic, Greek, Arabic, Hebrew, Bengali, Devanagari, Tamil, Thai, Georgian,
   Armenian, CJK, Hangul and kana, with emoji, ZWJ sequences and variation selectors: ~430k;
4. hand-made edge cases (control and zero-width characters, accents in NFC and NFD, the 100/101-character word
   limit, literal special tokens, final sigma, unassigned and private-use code points, the characters of the
   exceptions table...) and seeded perturbations of real paragraphs (random insertions from a palette of awkward
   characters, upper-casing, NFD): ~190k.

About 1.39M characters (1.57 MB of UTF-8) in ~3,100 documents. `build_corpus()` returns them as a tuple; it is
deterministic for a given machine and Faker version, and cached for the process.
"""
import ast
import functools
import os
import random
import re
import sysconfig
import unicodedata
import warnings

LICENSES = "/usr/share/common-licenses"


def license_documents():
    """Each license file whole (long documents) and each of its paragraphs."""
    if not os.path.isdir(LICENSES):
        return []
    seen, docs = set(), []
    for name in sorted(os.listdir(LICENSES)):
        path = os.path.realpath(os.path.join(LICENSES, name))
        if path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        docs.append(text)
        docs += [p for p in text.split("\n\n") if p.strip()]
    return docs


def _docstrings(path):
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    nodes = (n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                                          ast.AsyncFunctionDef)))
    return [d for d in map(ast.get_docstring, nodes) if d]


def docstring_documents(max_chars=300_000):
    """Docstrings of the standard library's top-level modules, in file-name order, up to max_chars."""
    stdlib = sysconfig.get_paths()["stdlib"]
    docs, total = [], 0
    for name in sorted(os.listdir(stdlib)):
        if not name.endswith(".py"):
            continue
        for doc in _docstrings(os.path.join(stdlib, name)):
            docs.append(doc)
            total += len(doc)
        if total >= max_chars:
            break
    return docs


_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"' + r"|'(?:[^'\\\n]|\\.)*'")


def _first_strings(path, max_chars):
    """The one-line string literals at the start of a source file, up to max_chars (faster than parsing it)."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    strings, total = [], 0
    for m in _STRING_LITERAL.finditer(source):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # invalid escapes such as "\d" in regex literals
                value = ast.literal_eval(m.group())
        except (SyntaxError, ValueError):
            continue
        if isinstance(value, str) and value.strip():
            strings.append(value)
            total += len(value) + 1
            if total >= max_chars:
                break
    return "\n".join(strings)[:max_chars]


def faker_documents(per_file=1200, max_chars=650_000):
    """The string literals of each Faker provider file, joined, up to per_file characters per file."""
    try:
        import faker
    except ImportError:
        return []
    root = os.path.join(os.path.dirname(faker.__file__), "providers")
    docs, total = [], 0
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                text = _first_strings(os.path.join(folder, name), per_file)
                if text:
                    docs.append(text)
                    total += len(text)
            if total >= max_chars:
                return docs
    return docs


# ---- edge cases ----

NASTY = [
    "", " ", "   \t\n  ", "\n", "a", "A", ".", "naïve café", "nai\u0308ve cafe\u0301", "ΟΔΟΣ", "Σ", "ς",
    "İstanbul ıi", "Straße STRASSE", "ﬁne ﬂour", "ＡＢＣ１２３", "𝐀𝐁𝐂 𝑥", "Ⅻ ½ ² ₃", "hello[MASK]world",
    "[mask] [MASK] [CLS][SEP][PAD][UNK]", "[MASK", "MASK]", "[[MASK]]", "unaffable", "UNAFFABLE!!!",
    "don't can't won't I'm you're it's", "a" * 99, "a" * 100, "a" * 101, "é" * 100, "é" * 101,
    "ab" * 60, "x" + "\u0301" * 150, "supercalifragilisticexpialidocious " * 3,
    "中文字符和English混合", "日本語のテキストとカタカナ", "한국어 텍스트입니다", "𠀀𠀁 𪜀 𫝀 𫠠𫡀 𬺰 \U0002B820\U0002B91F",
    "مرحبا بالعالم، كيف حالك؟", "مَرْحَبًا", "नमस्ते दुनिया। हिन्दी", "สวัสดีชาวโลก", "שָׁלוֹם עוֹלָם",
    "Привет, мир! ЁЖИК", "Γειά σου Κόσμε", "Բարեւ աշխարհ", "გამარჯობა", "😀 😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 1️⃣ ❤️",
    "a\u200bb\u200cc\u200dd\ufeffe\u2060f", "soft\u00adhyphen", "rtl\u200fmark\u200e", "nb\u00a0sp\u3000ideo",
    "line\u2028sep\u2029para", "v\x0btab\x0cff\x1cfs\x1dgs\x1ers\x1fus\x85nel", "nul\x00byte", "rep\ufffdchar",
    "del\x7fchar", "esc\x1b[31mred\x1b[0m", "cr\r\nlf\rcr", "unassigned\u0378\U000e0080\U0010fffd",
    "private\ue000use\U000f0000", "tag\U000e0041\U000e0042chars", "variation\ufe0fsel\ufe0e",
    "$5 + 3 < 10 = true ^ x | y ~ z `code`", "¿¡«»‹›„“”‘’—–…·•§¶†‡", "¢£¥€₹₽ ©®™ °±×÷",
    "https://example.com/path?query=1&b=2#frag user@example.org", "C:\\Program Files\\x.exe",
    "3.14159 1,000,000 10^6 1e-5 0x1F", "\u0378\u0379", "\U00011938\U00011935\U00011930",
    "\u302e\U0001d165", "\u1734\u0890\u0891", "\u061d\u2e52\U00011fff", "\u1c89\u2c2f\ua7c0", "\u1fef\u037e",
]

PALETTE = ("\x00\x01\x07\x0b\x0c\x1c\x1f\x7f\x85\u00ad\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u2060\ufeff"
           "\ufffd\u00a0\u3000\t\r\n  \u0301\u0308\u0327\u0338\u20dd\ufe0f\U000e0041ÀÉÎÕÜçñßΣςİı中文字한글かカ"
           "😀👍🏽‍🇫🇷.,;:!?'\"()[]{}<>/\\|@#$%^&*-_=+~`¿¡«»—…§¶€\u0378\ue000\U0002b820")


def perturb(text, rng, rate):
    """Insert characters of PALETTE into text at random places (about `rate` of the positions)."""
    out = []
    for ch in text:
        out.append(ch)
        if rng.random() < rate:
            out.append(rng.choice(PALETTE) * rng.choice((1, 1, 1, 2, 5)))
    return "".join(out)


def edge_documents(paragraphs, seed=0, count=400):
    """NASTY, then `count` perturbed, upper-cased or decomposed copies of real paragraphs, then long words."""
    rng = random.Random(seed)
    docs = list(NASTY)
    for _ in range(count):
        text = rng.choice(paragraphs)[:2000]
        kind = rng.randrange(4)
        if kind == 0:
            text = perturb(text, rng, 0.05)
        elif kind == 1:
            text = text.upper()
        elif kind == 2:
            text = unicodedata.normalize("NFD", text)
        else:
            text = perturb(unicodedata.normalize("NFD", text.upper()), rng, 0.2)
        docs.append(text)
    docs += ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzé") for _ in range(n)) for n in (98, 99, 100, 101, 102,
                                                                                            500, 5000)]
    return docs


@functools.lru_cache(maxsize=None)
def build_corpus(seed=0):
    """All documents, real text first."""
    real = license_documents() + docstring_documents() + faker_documents()
    return tuple(real) + tuple(edge_documents([d for d in real if 50 < len(d) < 5000] or NASTY, seed=seed))


if __name__ == "__main__":
    corpus = build_corpus()
    print(f"{len(corpus)} documents, {sum(map(len, corpus)):,} characters")
