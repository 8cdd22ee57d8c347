"""SqueezeBertTokenizerFast: the same answers as SqueezeBertTokenizer, in fast pure Python, with offsets.

It applies exactly the character rules of `tokenization.py` (imported from there), but organises the work so that
almost nothing happens per character or per token in Python:

1. One regex pass cuts the text into pieces: a run of word characters, a run of whitespace, or one other
   character (punctuation, a CJK ideograph). The pieces tile the text, so each piece's start is a running sum
   of lengths.
2. Each distinct piece is tokenized once and remembered: piece -> (ids, where its tokens start and end, how its
   ends behave, how many tokens each of its words gives: only `word_ids()` reads that). Real text repeats its
   words, so after a few thousand words almost every piece is a dictionary hit. An ASCII word, the commonest
   miss, is only lower-cased before WordPiece; any other piece is normalised by one `str.translate` over a table
   of each character's normalised text, filled on demand.
3. The ids of a text are the chained ids of its pieces (itertools.chain, a loop in C); the offsets are running
   sums of the pieces' steps (itertools.accumulate, also in C), see `offset_steps`.

The regex is only a fast guess at BERT's word boundaries (its Unicode tables are not Rust's, and a control
character between two letters vanishes and joins them). So each remembered piece also records whether its first
and last normalised characters can join a neighbour; when two pieces would join, they are merged and tokenized
together. Correctness therefore rests on `tokenization.py`'s rules alone, which the tests compare with the Rust
tokenizer over every code point.

Offsets are (start, end) character indices into the original text, as transformers returns them: a token covers
the original characters its normalised characters came from ("CAFÉ" -> "cafe" is (0, 4); each of the three
tokens of one Hangul syllable, decomposed into jamo, gets that syllable's span).
"""
import re
import unicodedata
from itertools import accumulate, chain, compress, pairwise, repeat
from operator import itemgetter

import regex

from .tokenization import CJK_RANGES, BasicTokenizer, decompose, is_punctuation
from .tokenization_base import TokenizerBase

# ---- cutting text into pieces ----

_ASCII_PUNCTUATION = r"!-/:-@\[-`{-~"
_CJK = "".join(f"\\U{first:08X}-\\U{last:08X}" for first, last in CJK_RANGES)
ASCII_PIECES = re.compile(rf"[^\s{_ASCII_PUNCTUATION}]+|\s+|.", re.DOTALL)
PIECES = regex.compile(rf"[^\s\p{{P}}{_ASCII_PUNCTUATION}{_CJK}]+|\s+|.", regex.DOTALL)

# How a piece's normalised text starts and ends ("end letter"), one per piece:
#   w: a word character at both ends (can join both neighbours)   l / r: only at the left / right end
#   s: separators at both ends (space or punctuation)             t: nothing left after normalisation
# Two pieces join when an open right end meets an open left end, with only "t" pieces between them.
_JOIN = re.compile(r"[wr]t*[wl]")
_WORD = re.compile(r"[^ ]+")  # a word of normalised text (see _NormalizationTable)

CACHE_SIZE = 1 << 17     # remembered pieces; the cache is emptied when full
CACHE_MAX_PIECE = 128    # longer pieces are tokenized but not remembered


class _Memo(dict):
    """A dict that fills a missing key with `compute(key)`; keeps at most `size` keys of at most `max_len`."""

    def __init__(self, compute, size=CACHE_SIZE, max_len=CACHE_MAX_PIECE):
        super().__init__()
        self.compute, self.size, self.max_len = compute, size, max_len

    def __missing__(self, key):
        value = self.compute(key)
        if len(key) <= self.max_len:
            if len(self) >= self.size:
                self.clear()
            self[key] = value
        return value


# ---- offsets without a Python loop per token ----

# the fields of a cache entry (SqueezeBertTokenizerFast._tokenize_piece), as getters that `map` can call in C
_IDS = itemgetter(0)     # the piece's token ids
_STEPS = itemgetter(1)   # its token offsets as steps, see offset_steps
_KEEP = itemgetter(2)    # which steps are token offsets
_END = itemgetter(3)     # its end letter (w, l, r, s, t)
_WORDS = itemgetter(4)   # how many tokens each of its words gives (for word_ids only)


def offset_steps(spans, length):
    """Encode the (start, end) spans of a piece's tokens for `token_offsets`: (steps, keep).

    `steps` are the distances from one position to the next, in the order start, end, start, end... of each token,
    then (if the last token stops short of it) the end of the piece; `keep` says which positions are token
    offsets (1) and which one is only the end of the piece (0). Steps can be negative: the three tokens of a
    Hangul syllable all cover that syllable. Because the steps of consecutive pieces simply follow one another,
    the offsets of a whole text need no piece starts (`token_offsets`).
    Example: spans ((0, 2), (2, 5)) of a 6-character piece -> steps (0, 2, 0, 3, 1), keep (1, 1, 1, 1, 0).
    """
    steps, position = [], 0
    for start, end in spans:
        steps += (start - position, end - start)
        position = end
    keep = [1] * len(steps)
    if position < length or not spans:
        steps.append(length - position)
        keep.append(0)
    return _pack(steps), bytes(keep)


def contiguous_steps(lengths):
    """`offset_steps` of tokens that tile the piece one after the other, from their lengths (so no loop in
    Python). Example: lengths (2, 3) -> steps (0, 2, 0, 3), keep (1, 1, 1, 1)."""
    if len(lengths) == 1 and lengths[0] < 256:  # the commonest case: one token, the whole piece
        return _ONE_TOKEN[lengths[0]]
    steps = [0] * (2 * len(lengths))
    steps[1::2] = lengths
    return (bytes(steps) if max(lengths) < 256 else tuple(steps)), b"\1" * len(steps)


def _pack(steps):
    """Steps as bytes when they fit (bytes are not containers, so the cycle collector never looks at them, and
    iterating them makes no new ints), else as a tuple."""
    return bytes(steps) if 0 <= min(steps) and max(steps) < 256 else tuple(steps)


_ONE_TOKEN = [(bytes((0, n)), b"\1\1") for n in range(256)]  # (steps, keep) of one token covering n characters


def token_offsets(entries):
    """The (start, end) offsets of the tokens of a text from the cache entries of its pieces, in C: running sums
    (accumulate) of the pieces' steps give every position, `keep` drops the ends of pieces, and zip(it, it)
    pairs what is left into (start, end)."""
    positions = accumulate(chain.from_iterable(map(_STEPS, entries)))
    it = compress(positions, chain.from_iterable(map(_KEEP, entries)))
    return list(zip(it, it))


def merge_joining_pieces(pieces, ends):
    """Glue the pieces that normalisation would join into one word. Example: pieces ["ab", "\x1c", "cd"] with
    ends "wtw" (U+001C is a control character, dropped) -> ["ab\x1ccd"]."""
    groups, right_open = [], False
    for piece, end in zip(pieces, ends):
        if groups and (end == "t" or (right_open and end in "wl")):
            groups[-1].append(piece)
            if end != "t":
                right_open = end == "w"
        else:
            groups.append([piece])
            right_open = end in "wr"
    return ["".join(group) for group in groups]


class SqueezeBertTokenizerFast(TokenizerBase):
    """SqueezeBERT's tokenizer (= BERT uncased), fast, with `return_offsets_mapping`.

    Same constructor, call API and answers as `SqueezeBertTokenizer` (see its docstring for the defaults, in
    particular `model_max_length=512`), and the same ids, token types, masks and offsets as transformers'
    Rust-backed `BertTokenizer`.
    """

    def __init__(self, vocab_file=None, **kwargs):   # the settings and their defaults: TokenizerBase.__init__
        super().__init__(vocab_file=vocab_file, **kwargs)
        basic = BasicTokenizer(self.do_lower_case, self.tokenize_chinese_chars, self.strip_accents)
        self._table = _NormalizationTable(basic)         # code point -> its normalised text
        self._pieces = _Memo(self._tokenize_piece)       # piece -> (ids, steps, keep, end letter)
        # WordPiece lookups without building "##" strings: first pieces and continuations in two dicts (a word
        # never contains "#", a punctuation character, so "##x" can only be a continuation); and for each
        # character, the longest entry starting with it, beyond which no candidate can match
        self._first = {t: i for t, i in self.vocab.items() if not t.startswith("##")}
        self._continuation = {t[2:]: i for t, i in self.vocab.items() if t.startswith("##") and len(t) > 2}
        self._longest_first = _longest_by_first_char(self._first)
        self._longest_continuation = _longest_by_first_char(self._continuation)

    def _encode_text(self, text, with_offsets):
        entries = self._entries(text)
        ids = list(chain.from_iterable(map(_IDS, entries)))
        return ids, token_offsets(entries) if with_offsets else None

    def _word_lengths(self, text):
        """Tokens per word, read from the same cache entries: a word never spans two pieces once joining
        pieces are merged, so the words of a text are those of its pieces, in order."""
        return list(chain.from_iterable(map(_WORDS, self._entries(text))))

    def _entries(self, text):
        """The cache entries of the pieces of `text`, pieces that normalisation would join merged first."""
        pieces = (ASCII_PIECES if text.isascii() else PIECES).findall(text)
        entries = list(map(self._pieces.__getitem__, pieces))
        ends = "".join(map(_END, entries))
        if _JOIN.search(ends):
            pieces = merge_joining_pieces(pieces, ends)
            entries = list(map(self._pieces.__getitem__, pieces))
        return entries

    # ---- the slow path: once per distinct piece ----

    def _tokenize_piece(self, piece):
        """One piece -> its cache entry: (ids, steps, keep, end letter, tokens per word); steps and keep: see
        `offset_steps`."""
        if piece.isascii() and piece.isalnum():  # the common case: normalising only lower-cases
            ids, lengths = self._wordpiece(piece.lower() if self.do_lower_case else piece)
            return (ids, *contiguous_steps(lengths), "w", (len(ids),))
        table = self._table
        if len(table) > CACHE_SIZE:  # keep the table bounded (emptied between pieces, never during one)
            table.clear()
        text = piece.translate(table)  # normalised, with spaces around punctuation: one C call
        if table.irregular.isdisjoint(piece):  # one word, one normalised character per character
            ids, lengths = self._wordpiece(text)
            return (ids, *contiguous_steps(lengths), "w", (len(ids),))
        if not text:
            return ((), *offset_steps((), len(piece)), "t", ())
        if table.basic.strip_accents and sum(map(table.combining.__contains__, piece)) > 1:
            text, origin = self._normalize_reordering(piece)  # NFD may sort its marks: the exact, slow path
        else:
            lengths = map(len, map(table.__getitem__, map(ord, piece)))
            origin = list(chain.from_iterable(map(repeat, range(len(piece)), lengths)))  # text index -> piece index
        ids, spans, words = self._tokenize_words(text, origin)
        left, right = text[0] != " ", text[-1] != " "  # a word character at that end
        end = "w" if left and right else "l" if left else "r" if right else "s"
        return (ids, *offset_steps(spans, len(piece)), end, words)

    def _normalize_reordering(self, piece):
        """The piece's normalised text (punctuation spaced, as the table gives it) and the origin of each of its
        characters, through `BasicTokenizer.normalize_aligned`, which sorts runs of combining marks as NFD does."""
        text, origin = self._table.basic.normalize_aligned(piece)
        spaced = [f" {ch} " if is_punctuation(ch) else ch for ch in text]
        return "".join(spaced), [o for part, o in zip(spaced, origin) for _ in part]

    def _tokenize_words(self, text, origin):
        """WordPiece each word of a piece's normalised `text` (its runs of non-spaces) and map the token spans back
        to the piece through `origin` (text index -> piece index): a token covers the original characters its
        first and last normalised characters came from. Returns the ids, the spans and how many tokens each word
        gave."""
        ids, spans, words = [], [], []
        for word in _WORD.finditer(text):
            word_ids, token_lengths = self._wordpiece(word.group())
            ids += word_ids
            words.append(len(word_ids))
            bounds = accumulate(token_lengths, initial=word.start())  # where each token starts, then the word's end
            spans += [(origin[start], origin[end - 1] + 1) for start, end in pairwise(bounds)]
        return tuple(ids), spans, tuple(words)

    def _wordpiece(self, word):
        """Greedy longest-match-first, as `WordpieceTokenizer.tokenize`, returning the ids and the lengths of the
        tokens (they follow one another from the start of the word). Candidates longer than the longest vocabulary
        entry that starts with the same character are not tried: they cannot match, so the answer is the same."""
        n, vocab = len(word), self._first
        if n > self.max_input_chars_per_word:
            return (self._unk_id,), (n,)
        if word in vocab:  # the commonest case: the whole word is in the vocabulary
            return (vocab[word],), (n,)
        ids, lengths = [], []
        longest, start, stop = self._longest_first, 0, n - 1  # the whole word was tried
        while start < n:
            end = start + longest.get(word[start], 0)
            if end > stop:
                end = stop
            while end > start:  # the longest candidate first
                token = word[start:end]
                if token in vocab:
                    break
                end -= 1
            else:  # nothing in the vocabulary starts here: the whole word is unknown
                return (self._unk_id,), (n,)
            ids.append(vocab[token])
            lengths.append(end - start)
            vocab, longest, start, stop = self._continuation, self._longest_continuation, end, n
        return tuple(ids), lengths


class _NormalizationTable(dict):
    """A `str.translate` table filled on demand: code point -> that character's normalised text (BasicTokenizer's
    rules), with a space on each side of every punctuation character, so that BERT's words are the runs of
    non-spaces. Example: "É" -> "e", "," -> " , ", "中" -> " 中 ", a control character -> "".

    `irregular` collects the characters met so far that do not become exactly one word character (whitespace,
    punctuation, CJK, dropped or expanding characters) or that hold a combining mark: a piece with none of them
    normalises character by character into one word. `combining` collects those with a combining mark.
    """

    def __init__(self, basic):
        super().__init__()
        self.basic, self.irregular, self.combining = basic, set(), set()

    def __missing__(self, code_point):
        ch = chr(code_point)
        text = "".join(f" {c} " if is_punctuation(c) else c for c in self.basic.normalize(ch))
        if any(map(unicodedata.combining, decompose(ch))):  # NFD may reorder it with a neighbouring mark
            self.combining.add(ch)
            self.irregular.add(ch)
        if len(text) != 1 or text == " ":
            self.irregular.add(ch)
        self[code_point] = text
        return text


def _longest_by_first_char(pieces):
    """{character: length of the longest piece that starts with it}."""
    longest = {}
    for piece in pieces:
        if piece and len(piece) > longest.get(piece[0], 0):  # (an empty line of vocab.txt is a token "")
            longest[piece[0]] = len(piece)
    return longest
