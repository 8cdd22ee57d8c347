# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Tokenization: from text to token ids
#
# SqueezeBERT reads text exactly as BERT-base-uncased does: the same 30,522-entry vocabulary and the same two-stage
# tokenizer. This notebook rebuilds both stages by hand and checks them against `squeezebert_np` and against
# Hugging Face's Rust `tokenizers` library.
#
# **Before this:** Python and a little NumPy (arrays, dicts); no machine learning. **Time:** about 30 minutes to read
# and run, 20 for the exercise. **Leaves for the next lesson:** the ids, token types and attention mask that every
# later lesson feeds to the model.
#
# **What you'll do:** load the real vocabulary shipped with the package; write the BasicTokenizer's five steps
# (clean, space out CJK, strip accents, lower-case, split) and WordPiece's greedy longest-match loop yourself;
# add the special tokens; compare every id with the Rust tokenizer.
#
# **What you'll learn:** why "unaffable" becomes `una ##ffa ##ble`, why a word with one unknown character becomes a
# single `[UNK]`, why "です" comes out as `て ##す`, and where Python's string methods and the Rust tokenizer
# disagree.
#
# **What you'll need:** `squeezebert_np` (installed). Optional: `tokenizers`, for the last check (skipped with a
# message if it is missing). No weights: the vocabulary ships with the package.

# %%
import unicodedata

from squeezebert_np import tokenization
from squeezebert_np.tokenization import SqueezeBertTokenizer
from squeezebert_np.tokenization_base import default_vocab_file, load_vocab

# %% [markdown]
# ## The vocabulary: `vocab.txt`
#
# One token per line; the line number is the id. Whole-word pieces are plain (`hello`), pieces that continue a word
# start with `##` (`##able`). The five special tokens sit near the top. (The official checkpoints have 30,528
# embedding rows: 30,522 rounded up to a multiple of 8. The 6 extra rows are never produced by the tokenizer.)

# %%
vocab = load_vocab(default_vocab_file())                   # {token: id}
specials = {t: vocab[t] for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]}
continuations = sum(t.startswith("##") for t in vocab)
print(f"{len(vocab)} tokens, {continuations} of them '##' continuations; specials: {specials}")
assert len(vocab) == 30522
assert specials == {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}

# %% [markdown]
# ## BasicTokenizer, step by step
#
# Before WordPiece sees anything, the text is normalised and cut into words. Each of the first four steps maps one
# character to zero or more characters, independently of its neighbours, so each is a one-line comprehension:
#
# 1. **clean**: drop control characters (and NUL, U+FFFD), turn every kind of whitespace into a plain space;
# 2. **space out CJK**: put spaces around each Chinese/Japanese ideograph, so each is a word of its own;
# 3. **strip accents**: decompose (Unicode NFD: `é` → `e` + U+0301) and drop the combining marks (category `Mn`);
# 4. **lower-case**;
# 5. **split** on spaces, and make every punctuation character a word of its own.
#
# Two pieces of Unicode these steps use. Every character has a **general category**, a two-letter class from the
# Unicode database (`unicodedata.category(ch)`): `Lu`/`Ll` upper/lower-case letters, `Nd` digits, `P*` punctuation,
# `Zs` spaces, and the ones here: `Cc` *control* characters (the C0/C1 codes such as U+0007 BEL; tab and newline are
# also `Cc`, which is why `clean` keeps them as spaces), `Cf` *format* characters (invisible ones such as U+200B
# ZERO WIDTH SPACE or U+200D ZERO WIDTH JOINER), `Co`/`Cs` private-use and surrogate code points, and `Mn`
# *non-spacing marks*, the accents that combine with the character before them. **NFD** (Normalization Form D,
# canonical decomposition) rewrites each precomposed character as a base character followed by its combining marks:
# `é` (U+00E9) becomes `e` + U+0301 COMBINING ACUTE ACCENT, whose category is `Mn`; dropping the `Mn` characters
# then leaves `e`. That is all "strip accents" is.

# %%
def clean(text):
    keep = lambda ch: ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs")
    return "".join(" " if ch.isspace() else ch for ch in text if ch not in "\0\ufffd" and keep(ch))

def space_cjk(text):       # the main CJK block only; the package knows all eight ranges
    return "".join(f" {ch} " if 0x4E00 <= ord(ch) <= 0x9FFF else ch for ch in text)

def strip_accents(text):
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")

def lower(text):
    return text.lower()

# %% [markdown]
# Punctuation, for BERT, is every Unicode `P*` character **and** every printable ASCII symbol, so `$ + < = > ^ | ~`
# are split off too although Unicode calls them symbols.

# %%
def is_punct(ch):
    ascii_symbol = ch.isascii() and ch.isprintable() and not ch.isalnum() and ch != " "
    return ascii_symbol or unicodedata.category(ch).startswith("P")

# %%
def split(text):
    words = []
    for chunk in text.split(" "):
        word = ""
        for ch in chunk:
            if is_punct(ch):
                words += [word, ch]                 # close the word so far, the punctuation is a word too
                word = ""
            else:
                word += ch
        words.append(word)
    return [w for w in words if w]                  # drop the empty words left by runs of spaces

def basic_tokenize(text):
    return split(lower(strip_accents(space_cjk(clean(text)))))

# %% [markdown]
# Let's compare with the package's `BasicTokenizer` on a few texts that exercise every step: capitals, accents,
# CJK, Japanese kana, tabs and newlines, ASCII symbols, and a control character (U+0007) inside a word.

# %%
texts = ["Hello, World!", "The CAFÉ, unaffable!", "naïve résumé — 10€?", "東京は日本の首都です。",
         "don't   stop\tbelieving\n", "$5 + 3 = 8 ^_^", "bell\x07ringer", "ΟΔΟΣ"]
basic = tokenization.BasicTokenizer(do_lower_case=True)
for text in texts:
    ours, theirs = basic_tokenize(text), basic.tokenize(text)
    print(f"{'ok  ' if ours == theirs else 'DIFF'} {text!r:28} -> {theirs}")

# %% [markdown]
# Two things to notice. "です" became `てす`: the voicing mark of で is a combining character after NFD, and
# accent stripping drops it (kana are not CJK ideographs, so `てす` stays one word). And the last text differs:
# Python's `str.lower` knows that a word-final capital sigma is `ς`, while the Rust tokenizer (which every
# transformers `BertTokenizer` uses since v5) lower-cases one character at a time and always gives `σ`. The package
# follows Rust. Lower-casing per character fixes our version:

# %%
def lower(text):
    return "".join(ch.lower() for ch in text)

for text in texts:
    assert basic_tokenize(text) == basic.tokenize(text), text
print(basic_tokenize("ΟΔΟΣ"), "- all", len(texts), "texts agree")

# %% [markdown]
# (Our hand-written version still uses Python's `unicodedata` tables. For several hundred rare code points they
# disagree with the tables compiled into the Rust tokenizer (whitespace, punctuation, combining marks, lower case);
# the package carries Rust's answers in `data/rust-unicode-exceptions.txt`, and its tests check all 1.1 million
# code points.)
#
# ## WordpieceTokenizer: greedy longest match first
#
# Each word is cut from the left: take the longest prefix that is in the vocabulary, then continue with `##` + the
# longest next piece, and so on. If at some point *no* piece matches, the whole word becomes `[UNK]`, not just the
# part that failed. Words longer than 100 characters are `[UNK]` without trying.

# %%
def wordpiece(word, vocab, trace=False):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        prefix = "" if start == 0 else "##"                 # a piece inside a word is looked up as ##piece
        candidates = [prefix + word[start:end] for end in range(len(word), start, -1)]   # longest first
        piece = next((c for c in candidates if c in vocab), None)
        if piece is None:
            return ["[UNK]"]                                # no piece starts here: the whole word is unknown
        if trace:
            print(f"  {word[:start]:>8}|{word[start:]:<12} {candidates.index(piece) + 1:>2} tries -> {piece}")
        pieces.append(piece)
        start += len(piece) - len(prefix)
    return pieces

# %%
for word in ["unaffable", "squeezebert"]:
    print(word)
    print("  ->", wordpiece(word, vocab, trace=True))

# %% [markdown]
# The textbook example `un ##aff ##able` (in Google's BERT code) is only an illustration: the real vocabulary
# happens to contain `una`, and greedy matching takes the longest piece it finds. Now the check against the package, on every word of a paragraph and a
# few edge cases: an emoji glued to a word (→ one `[UNK]`), 100 and 101 characters, a single character.

# %%
paragraph = """SqueezeBERT replaces the position-wise fully-connected layers of BERT with grouped convolutions,
and runs 4.3x faster than BERT-base on a Pixel 3 smartphone. Tokenization is unchanged: the uncased WordPiece
vocabulary of bert-base-uncased, 30,522 entries, unaffable as ever."""
words = basic.tokenize(paragraph) + ["squeezebert🤗", "a" * 100, "a" * 101, "x", "##"]
wp = tokenization.WordpieceTokenizer(vocab)
for word in words:
    assert wordpiece(word, vocab) == wp.tokenize(word), word
print(len(words), "words agree;", "squeezebert🤗 ->", wordpiece("squeezebert🤗", vocab),
      "; 101 x 'a' ->", wordpiece("a" * 101, vocab))

# %% [markdown]
# ## SqueezeBertTokenizer: special tokens, pairs, padding
#
# The full tokenizer is BasicTokenizer + WordPiece, then the template BERT was trained with:
# `[CLS] A [SEP]` for one text, `[CLS] A [SEP] B [SEP]` for a pair (MNLI's premise and hypothesis), with
# `token_type_ids` 0 for the first segment and 1 for the second. Literal special tokens in the text (`[MASK]`) are
# kept whole; a lower-case `[mask]` is just text.

# %%
tok = SqueezeBertTokenizer()             # the package's vocabulary by default
premise, hypothesis = "A man plays a guitar.", "Someone makes [MASK] music."
enc = tok(premise, hypothesis)
by_hand = ["[CLS]"] + [p for w in basic_tokenize(premise) for p in wordpiece(w, vocab)] + ["[SEP]"] \
    + [p for w in basic_tokenize("Someone makes") for p in wordpiece(w, vocab)] + ["[MASK]"] \
    + [p for w in basic_tokenize("music.") for p in wordpiece(w, vocab)] + ["[SEP]"]
assert enc["input_ids"] == [vocab[t] for t in by_hand]
n_a = by_hand.index("[SEP]") + 1
assert enc["token_type_ids"] == [0] * n_a + [1] * (len(by_hand) - n_a)
print(list(zip(by_hand, enc["input_ids"], enc["token_type_ids"])))

# %% [markdown]
# A batch is padded to its longest member with `[PAD]` (id 0) on the right, and `attention_mask` says which positions
# are real (1) and which are padding (0). The model must ignore the padding: notebook 04 shows how.

# %%
texts_in_batch = ["Short one.", "A somewhat longer second sentence!"]    # two single texts, not a pair
batch = tok(texts_in_batch, padding=True, return_tensors="np")
for name, array in batch.items():
    print(f"{name:15} {array.shape} {array.dtype}\n{array}")
longest = max(len(tok(text)["input_ids"]) for text in texts_in_batch)
assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, longest)
assert (batch["input_ids"][batch["attention_mask"] == 0] == vocab["[PAD]"]).all()

# %% [markdown]
# Decoding maps ids back to tokens and glues `##` pieces to their word. Lower-casing and accent stripping cannot be
# undone, so decoding gives the normalised text.

# %%
ids = tok("The CAFÉ, unaffable!")["input_ids"]
text = tok.decode(ids, skip_special_tokens=True)
print(ids, "->", repr(text))
assert text == "the cafe, unaffable!"

# %% [markdown]
# ## Checking against the Rust `tokenizers` library
#
# transformers' `AutoTokenizer` for the SqueezeBERT repositories is the Rust-backed `BertTokenizer`, i.e. the
# `tokenizers` library's BERT pipeline (`BertWordPieceTokenizer` assembles the same normaliser, pre-tokenizer,
# WordPiece model and `[CLS]`/`[SEP]` template). We compare ids, single texts and pairs, with both of the package's
# tokenizers: the readable one above and the fast one (same rules, organised for speed, with character offsets).

# %%
try:
    import tokenizers
except ImportError:
    tokenizers = None
    print("tokenizers is not installed: skipping the comparison with the Rust tokenizer "
          "(pip install tokenizers to run it)")

# %%
if tokenizers is not None:
    from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast
    rust = tokenizers.BertWordPieceTokenizer(default_vocab_file(), lowercase=True)
    fast = SqueezeBertTokenizerFast()
    hard = texts + [paragraph, "", "   ", "squeezebert🤗 [MASK] [mask]", "a" * 101, "中文ok", "x\u0301y"]
    for text in hard:
        expected = rust.encode(text).ids
        assert tok(text)["input_ids"] == fast(text)["input_ids"] == expected, text
    for a, b in [(premise, hypothesis), ("Paris is in France.", "Paris is not in France.")]:
        e = rust.encode(a, b)
        assert tok(a, b)["input_ids"] == e.ids and tok(a, b)["token_type_ids"] == e.type_ids
    print(f"tokenizers {tokenizers.__version__}: all {len(hard)} texts and 2 pairs give identical ids")

# %% [markdown]
# ## Your turn: WordPiece
#
# Write WordPiece's greedy longest-match-first yourself, without looking at the package: from the start of the word
# take the longest prefix that is in `vocab`, then go on from where it ended with `"##"` + the longest piece of the
# rest. If nowhere can a piece be found, the **whole word** is `["[UNK]"]`; so is a word over 100 characters.
# `check` runs your function on 39 words (the vocabulary of squeezebert-uncased, random and awkward words) against
# the package and tells you the first word it gets wrong. A solution is in `notebooks/solutions/wordpiece.py`.

# %%
from squeezebert_np.exercises import check

def wordpiece(word, vocab):  # str, {piece: id} -> list of str
    """"unaffable" -> ["una", "##ffa", "##ble"] with squeezebert-uncased's vocabulary."""
    raise NotImplementedError("your code here")   # replace this line

check("wordpiece", wordpiece)

# %% [markdown]
# ## What we built
#
# | step | by hand | package |
# |---|---|---|
# | vocabulary | `line number = id` | `load_vocab` |
# | BasicTokenizer | clean → CJK → strip accents → lower (per char) → split | `tokenization.BasicTokenizer` |
# | WordPiece | greedy longest match, whole word `[UNK]` on failure | `tokenization.WordpieceTokenizer` |
# | template | `[CLS] A [SEP] B [SEP]`, token types 0/1, right padding + mask | `SqueezeBertTokenizer.__call__` |
#
# Next, **02** opens the checkpoint files those ids will be fed into.
