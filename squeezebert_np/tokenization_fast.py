"""SqueezeBertTokenizerFast: the same answers as SqueezeBertTokenizer, in fast pure Python, with offsets.

It applies exactly the character rules of `tokenization.py` (imported from there), but organises the work so that
almost nothing happens per character or per token in Python:

1. One regex pass cuts the text into pieces: a run of word characters, a run of whitespace, or one other
   character (punctuation, a CJK ideograph). The pieces tile the text, so each piece's start is a running sum
   of lengths.
2. Each distinct piece is tokenized once and remembered: piece -> (ids, token spans inside the piece, how its
   ends behave). Real text repeats its words, so after a few thousand words almost every piece is a
   dictionary hit. An ASCII word, the commonest miss, is only lower-cased before WordPiece.
3. The ids of a text are the chained ids of its pieces (itertools.chain, a loop in C); an offset is the piece's
   start plus the span inside it.

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
from itertools import accumulate, chain, repeat
from operator import itemgetter

import regex

from .tokenization import CJK_RANGES, BasicTokenizer, is_punctuation
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
        self._normalized = _Memo(basic.normalize)        # char -> its normalised string
        self._is_punctuation = _Memo(is_punctuation)     # normalised char -> bool
        self._pieces = _Memo(self._tokenize_piece)       # piece -> (ids, spans inside the piece, end letter)
        # WordPiece lookups without building "##" strings: first pieces and continuations in two dicts (a word
        # never contains "#", a punctuation character, so "##x" can only be a continuation); and for each
        # character, the longest entry starting with it, beyond which no candidate can match
        self._first = {t: i for t, i in self.vocab.items() if not t.startswith("##")}
        self._continuation = {t[2:]: i for t, i in self.vocab.items() if t.startswith("##") and len(t) > 2}
        self._longest_first = _longest_by_first_char(self._first)
        self._longest_continuation = _longest_by_first_char(self._continuation)

    def _encode_text(self, text, with_offsets):
        pieces = (ASCII_PIECES if text.isascii() else PIECES).findall(text)
        entries = list(map(self._pieces.__getitem__, pieces))
        ends = "".join(map(itemgetter(2), entries))
        if _JOIN.search(ends):
            pieces = merge_joining_pieces(pieces, ends)
            entries = list(map(self._pieces.__getitem__, pieces))
        ids = list(chain.from_iterable(map(itemgetter(0), entries)))
        if not with_offsets:
            return ids, None
        piece_starts = accumulate(map(len, pieces), initial=0)
        return ids, [(base + start, base + end) for base, spans in zip(piece_starts, map(itemgetter(1), entries))
                     for start, end in spans]

    # ---- the slow path: once per distinct piece ----

    def _tokenize_piece(self, piece):
        """One piece -> (ids, (start, end) of each token inside the piece, end letter)."""
        if piece.isascii() and piece.isalnum():  # the common case: normalising only lower-cases
            ids, spans = self._wordpiece(piece.lower() if self.do_lower_case else piece)
            return ids, spans, "w"
        normalized = list(map(self._normalized.__getitem__, piece))
        chars = "".join(normalized)
        if not chars:
            return (), (), "t"
        words = self._word_spans(chars)
        if len(chars) == len(piece) and max(map(len, normalized)) == 1 and len(words) == 1:
            ids, spans = self._wordpiece(chars)  # one word, one normalised character per character
        else:
            ids, spans = self._tokenize_words(chars, words, normalized)
        left = chars[0] != " " and not self._is_punctuation[chars[0]]
        right = chars[-1] != " " and not self._is_punctuation[chars[-1]]
        return ids, spans, "w" if left and right else "l" if left else "r" if right else "s"

    def _tokenize_words(self, chars, words, normalized):
        """WordPiece each word of the normalised characters and map the token spans back to the piece: a token
        covers the original characters its first and last normalised characters came from."""
        origin = list(chain.from_iterable(map(repeat, range(len(normalized)), map(len, normalized))))
        ids, spans = [], []
        for start, stop in words:
            word_ids, word_spans = self._wordpiece(chars[start:stop])
            ids += word_ids
            spans += [(origin[start + s], origin[start + e - 1] + 1) for s, e in word_spans]
        return tuple(ids), tuple(spans)

    def _word_spans(self, chars):
        """(start, stop) of each word of the normalised text: spaces separate, punctuation stands alone."""
        if " " not in chars and not any(map(self._is_punctuation.__getitem__, chars)):
            return [(0, len(chars))]
        spans, start = [], None
        for i, ch in enumerate(chars):
            if ch == " " or self._is_punctuation[ch]:
                if start is not None:
                    spans.append((start, i))
                    start = None
                if ch != " ":
                    spans.append((i, i + 1))
            elif start is None:
                start = i
        if start is not None:
            spans.append((start, len(chars)))
        return spans

    def _wordpiece(self, word):
        """Greedy longest-match-first, as `WordpieceTokenizer.tokenize`, returning the ids and (start, end) spans of
        the tokens. Candidates longer than the longest vocabulary entry that starts with the same character are
        not tried: they cannot match, so the answer is the same."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return (self.unk_token_id,), ((0, n),)
        if word in self._first:  # the commonest case: the whole word is in the vocabulary
            return (self._first[word],), ((0, n),)
        ids, spans = [], []
        vocab, longest, start, stop = self._first, self._longest_first, 0, n - 1  # the whole word was tried
        while start < n:
            end = min(stop, start + longest.get(word[start], 0))
            while end > start and word[start:end] not in vocab:
                end -= 1
            if end == start:  # nothing in the vocabulary starts here: the whole word is unknown
                return (self.unk_token_id,), ((0, n),)
            ids.append(vocab[word[start:end]])
            spans.append((start, end))
            vocab, longest, start, stop = self._continuation, self._longest_continuation, end, n
        return tuple(ids), tuple(spans)


def _longest_by_first_char(pieces):
    """{character: length of the longest piece that starts with it}."""
    longest = {}
    for piece in pieces:
        if len(piece) > longest.get(piece[0], 0):
            longest[piece[0]] = len(piece)
    return longest
