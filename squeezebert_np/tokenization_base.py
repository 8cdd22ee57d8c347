"""What both SqueezeBERT tokenizers share: vocabulary, special tokens, and the call API known from transformers.

A subclass only has to turn one piece of text into token ids (`_encode_text`); everything around that lives here
once: splitting out added tokens ([MASK] and those of `add_tokens`), adding `[CLS]`/`[SEP]`, truncation with stride
and overflow, padding, numpy output, positions (`char_to_token`...), decoding. The behaviour copies what transformers
5.24 does with its Rust-backed `BertTokenizer` (REFERENCE.md §7.4-7.7); where we deliberately differ the docstring
says so. Neighbouring modules hold the rest: added_tokens.py (matching added tokens), special_tokens.py (the special
and added token API), padding.py (`pad`), tokenizer_files.py (reading and writing the files).
"""
import contextlib
import gc
import json
import logging
import operator
import os
import sys
from importlib import resources
from typing import NamedTuple

from . import padding as padding_module
from .added_tokens import MAX_ADDED_TOKENS, AddedToken, AddedVocabulary
from .errors import TokenizerError
from .special_tokens import SPECIAL_TOKENS_ATTRIBUTES, SpecialTokensMixin


# transformers treats a model_max_length above this as "no limit" (tokenization_utils_base.LARGE_INTEGER)
NO_LIMIT = int(1e20)
# the most tokens (rows x padded length) that padding may produce in one call: a batch of 32,768 rows of 512,
# 128 MiB per field as lists; beyond that a typo such as pad_to_multiple_of=2**40 would exhaust memory
MAX_PADDED_TOKENS = 1 << 24
# what a saved transformers tokenizer passes to its constructor that does not change how it tokenizes: taken and
# kept in `init_kwargs` only (transformers' own bookkeeping)
IGNORED_INIT_KWARGS = frozenset({"name_or_path", "backend", "is_local", "local_files_only", "tokenizer_class",
                                 "processor_class", "files_loaded", "tokenizer_file", "verbose", "auto_map",
                                 "_commit_hash", "trust_remote_code", "use_fast", "fix_mistral_regex"})
SIDES = ("right", "left")

logger = logging.getLogger("squeezebert_np")


def default_vocab_file():
    """Path of the uncased vocabulary shipped with the package (bert-base-uncased's 30,522 tokens)."""
    return str(resources.files("squeezebert_np") / "data" / "vocab-uncased.txt")


# ---------------------------------------------------------------------------------------------------------------
# vocabulary

def load_vocab(vocab_file):
    """Read a WordPiece vocabulary: one token per line, the line number is the id.

    Lines are read like transformers' `load_vocab` (universal newlines, only the line break removed), but a token
    that appears twice is an error here instead of silently overwriting the first id. `vocab_file` must be a path:
    `open()` would take an int as a file descriptor (vocab_file=0 would read and close stdin).
    """
    if not isinstance(vocab_file, (str, os.PathLike)):
        raise TokenizerError(f"vocab_file must be a path (str or os.PathLike), not {type(vocab_file).__name__}")
    try:
        with open(vocab_file, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError as e:
        raise TokenizerError(f"vocabulary file {vocab_file} is not UTF-8 text: {e}") from None
    except (FileNotFoundError, IsADirectoryError) as e:
        raise TokenizerError(f"vocabulary file {vocab_file} cannot be read: {e.strerror}") from None
    vocab = {}
    for index, line in enumerate(lines):
        token = line.rstrip("\n")
        if token in vocab:
            raise TokenizerError(f"vocabulary file {vocab_file}: token {token!r} appears twice "
                                 f"(lines {vocab[token] + 1} and {index + 1})")
        vocab[token] = index
    return vocab


def check_vocab(vocab, special_tokens, source):
    """Tokens must be strings and ids ints (not bools, not floats such as 101.0), every special token must be in
    the vocabulary, and ids must be 0..n-1 (so id -> token is a list)."""
    for token, index in vocab.items():
        if not isinstance(token, str) or not _is_id(index):
            raise TokenizerError(f"vocabulary {source}: each entry must map a token string to an int id, got "
                                 f"{token!r:.40}: {index!r:.40}")
    missing = [t for t in special_tokens if t not in vocab]
    if missing:
        raise TokenizerError(f"vocabulary {source} lacks the special token(s) {', '.join(missing)}")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise TokenizerError(f"vocabulary {source}: ids must be distinct and run from 0 to {len(vocab) - 1}")


# ---------------------------------------------------------------------------------------------------------------
# the output

# how many new containers (lists, tuples...) may pile up before cycle_collector_paused's collect_young runs
YOUNG_OBJECTS = 20_000


@contextlib.contextmanager
def cycle_collector_paused():
    """Pause Python's automatic cycle collector (`gc`) while a batch is tokenized; yields `collect_young`, to call
    between texts, which collects the youngest generation once YOUNG_OBJECTS new containers have piled up.

    A call builds hundreds of thousands of small lists and tuples and no reference cycles, so the collector finds
    nothing; but as these objects pile up, the automatic collector re-scans every container in the process, again
    and again, which costs a third of the time of a large call. Its youngest generation still has to be scanned
    once (that is when tuples of ints stop being tracked): left to the end, the scan of a whole batch's objects
    reads them back from main memory; every YOUNG_OBJECTS they are still in the CPU cache, which makes it several
    times cheaper. Reference counting frees everything as usual; if gc was disabled, nothing is collected.
    """
    was_enabled = gc.isenabled()
    gc.disable()

    def collect_young():
        if was_enabled and gc.get_count()[0] > YOUNG_OBJECTS:
            gc.collect(0)

    try:
        yield collect_young
    finally:
        if was_enabled:
            gc.enable()


class BatchEncoding(dict):
    """The tokenizer's output: a dict of lists (or int64 arrays) that also allows attribute access.

    `enc["input_ids"]` and `enc.input_ids` are the same object; being a real dict, `model(**enc)` works.
    Made by a tokenizer call, it also answers `word_ids`, `sequence_ids` and `tokens` for each row, as transformers'
    fast-tokenizer output does (there they read the Rust `Encoding`s; here they are worked out when first asked
    for, so that a call which never asks pays nothing).
    """

    def __init__(self, data=(), layout=None):
        super().__init__(data)
        self._layout = layout

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {name!r} (fields: {', '.join(self)})") from None

    def word_ids(self, batch_index=0):
        """For each token of row `batch_index`, the index of the word it came from; None for [CLS], [SEP] and
        padding. With `is_split_into_words=True` the words are the given ones (counted from 0 in each sequence of
        a pair); for text they are the pre-tokenizer's words, as in transformers: whitespace-separated runs with
        each punctuation character and CJK ideograph on its own, and each literal special token.
        Example: tok(["New York", "is", "big!"], is_split_into_words=True).word_ids()
        -> [None, 0, 0, 1, 2, 2, None]"""
        return self._row_layout("word_ids", batch_index).word_ids(batch_index)

    def sequence_ids(self, batch_index=0):
        """For each token of row `batch_index`: 0 in the first sequence, 1 in the second of a pair, None for the
        special tokens the tokenizer added and for padding (a literal "[MASK]" in the text belongs to its sequence)."""
        return self._row_layout("sequence_ids", batch_index).sequence_ids(batch_index)

    def tokens(self, batch_index=0):
        """The token strings of row `batch_index`, special tokens and padding included."""
        return self._row_layout("tokens", batch_index).tokens(batch_index)

    # ---- positions: characters <-> tokens <-> words (question answering and NER need them) ----
    # Called as transformers does: f(index) for a single encoding, f(batch_index, index) for a batch. Out-of-range
    # indices give None (Rust's answer), negative ones a TokenizerError (Rust: OverflowError). `sequence_index`
    # picks the text (0) or the text_pair (1); a row without that sequence searches all its tokens, as Rust does.

    def token_to_chars(self, batch_or_token_index, token_index=None):
        """The CharSpan(start, end) of the original text a token covers; None for [CLS], [SEP] and padding.
        Needs SqueezeBertTokenizerFast (offsets). Example: tok("hello world").token_to_chars(2) -> (6, 11)"""
        row, token = self._position("token_to_chars", batch_or_token_index, token_index)
        if token >= len(row.sequence_ids) or row.sequence_ids[token] is None:
            return None
        return CharSpan(*row.offsets[token])

    def char_to_token(self, batch_or_char_index, char_index=None, sequence_index=0):
        """The index of the token covering character `char_index` of the text (or of the pair's second text with
        sequence_index=1); None if no token does (a space, say). Needs SqueezeBertTokenizerFast (offsets)."""
        row, char = self._position("char_to_token", batch_or_char_index, char_index)
        for token in row.tokens_of(sequence_index):
            start, end = row.offsets[token]
            if start <= char < end:
                return token
        return None

    def char_to_word(self, batch_or_char_index, char_index=None, sequence_index=0):
        """The index of the word holding character `char_index` (see `word_ids`); None outside every token."""
        row, char = self._position("char_to_word", batch_or_char_index, char_index)
        token = self.char_to_token(row.batch_index, char, sequence_index)
        return None if token is None else row.word_ids[token]

    def token_to_word(self, batch_or_token_index, token_index=None):
        """The word index of a token (`word_ids()[token]`); None for special tokens, padding or out of range."""
        row, token = self._position("token_to_word", batch_or_token_index, token_index, need_offsets=False)
        return row.word_ids[token] if token < len(row.word_ids) else None

    def token_to_sequence(self, batch_or_token_index, token_index=None):
        """0 or 1: which sequence a token belongs to (`sequence_ids()[token]`); None for special tokens, padding."""
        row, token = self._position("token_to_sequence", batch_or_token_index, token_index, need_offsets=False)
        return row.sequence_ids[token] if token < len(row.sequence_ids) else None

    def word_to_tokens(self, batch_or_word_index, word_index=None, sequence_index=0):
        """The TokenSpan(start, end) of the tokens of word `word_index` of a sequence; None if it has none.
        Example: tok("unaffable cats").word_to_tokens(0) -> TokenSpan(start=1, end=4)"""
        row, word = self._position("word_to_tokens", batch_or_word_index, word_index, need_offsets=False)
        tokens = []
        for t in row.tokens_of(sequence_index):  # Rust stops at the first later word (words only grow in a sequence)
            if row.word_ids[t] is not None and row.word_ids[t] > word:
                break
            if row.word_ids[t] == word:
                tokens.append(t)
        return TokenSpan(tokens[0], tokens[-1] + 1) if tokens else None

    def word_to_chars(self, batch_or_word_index, word_index=None, sequence_index=0):
        """The CharSpan of word `word_index` of a sequence: from its first token's start to its last token's end."""
        row, word = self._position("word_to_chars", batch_or_word_index, word_index)
        span = self.word_to_tokens(row.batch_index, word, sequence_index)
        return None if span is None else CharSpan(row.offsets[span.start][0], row.offsets[span.end - 1][1])

    def _position(self, method, batch_or_index, index, need_offsets=True):
        """(the row's positional facts, the index): f(i) means row 0 of a single encoding, f(b, i) row b."""
        if index is None:
            batch_index, index = 0, batch_or_index
        else:
            batch_index = batch_or_index
        layout = self._row_layout(method, batch_index)
        index = _check_int(index, f"{method}'s index", 0, allow_none=False)
        return _RowFacts(layout, operator.index(batch_index), need_offsets), index

    def _row_layout(self, method, batch_index):
        """The call's layout, once `batch_index` is checked (negative indices count from the end, as in a list)."""
        layout = self.__dict__.get("_layout")
        if layout is None:
            raise TokenizerError(f"{method}() needs the BatchEncoding a tokenizer call returned (this one was made "
                                 "by hand or copied)")
        n = len(layout)
        try:
            index = None if isinstance(batch_index, bool) else operator.index(batch_index)
        except TypeError:
            index = None
        if index is None or not -n <= index < n:
            raise TokenizerError(f"batch_index must be an int in [-{n}, {n}) (this encoding has {n} row(s)), "
                                 f"got {batch_index!r}")
        return layout


class CharSpan(NamedTuple):
    """A span of characters of the original text: [start, end), as transformers' CharSpan."""
    start: int
    end: int


class TokenSpan(NamedTuple):
    """A span of tokens of an encoding: [start, end), as transformers' TokenSpan."""
    start: int
    end: int


class _RowFacts:
    """One row's word ids, sequence ids and (if needed) offsets, asked once from the layout."""

    def __init__(self, layout, batch_index, need_offsets):
        self.batch_index = batch_index
        self.word_ids = layout.word_ids(batch_index)
        self.sequence_ids = layout.sequence_ids(batch_index)
        self.offsets = layout.offsets(batch_index) if need_offsets else None
        self.n_sequences = 2 if layout.has_pair(batch_index) else 1

    def tokens_of(self, sequence_index):
        """The token indices of sequence `sequence_index` (maybe none), or all of the row's if it has no such
        sequence (Rust's `sequence_range` falls back to the whole encoding)."""
        sequence_index = _check_int(sequence_index, "sequence_index", 0, allow_none=False)
        if sequence_index >= self.n_sequences:
            return range(len(self.sequence_ids))
        return [t for t, s in enumerate(self.sequence_ids) if s == sequence_index]


class Layout:
    """How each row of a tokenizer call was built, to answer `BatchEncoding.word_ids` and friends on demand.

    A row is [CLS] A[window_a] [SEP] (B[window_b] [SEP]), padded: the windows are those of truncation and
    overflow, the padding is what `_collate` added. Word ids of a whole sequence are computed (by the tokenizer's
    `_word_ids`) only when a row of that sample is first asked for, then cut and padded the way its ids were.
    """

    def __init__(self, tokenizer, sources, add_special_tokens):
        self.tokenizer, self.sources, self.add_special_tokens = tokenizer, sources, add_special_tokens
        self.rows = []          # per row: (sample index, (start, stop) of A, of B or None)
        self.input_ids = None   # per row: the padded id lists, set by _collate
        self.padding_side = "right"
        self._words = {}        # (sample, 0 or 1) -> word ids of that whole sequence

    def __len__(self):
        return len(self.rows)

    def __reduce__(self):
        """Pickled (for a DataLoader worker, say) as its answers for every row, without the tokenizer."""
        rows = range(len(self.rows))
        try:
            offsets = [self.offsets(r) for r in rows]
        except TokenizerError:  # the readable tokenizer has no offsets
            offsets = None
        return AnsweredLayout, ([self.word_ids(r) for r in rows], [self.sequence_ids(r) for r in rows],
                                [self.tokens(r) for r in rows], offsets, [self.has_pair(r) for r in rows])

    def word_ids(self, row):
        sample, window_a, window_b = self.rows[row]
        cut = [self._sequence_words(sample, 0)[slice(*window_a)]]
        if window_b is not None:
            cut.append(self._sequence_words(sample, 1)[slice(*window_b)])
        return self._assemble(row, cut)

    def sequence_ids(self, row):
        _, window_a, window_b = self.rows[row]
        windows = [window_a] if window_b is None else [window_a, window_b]
        return self._assemble(row, [[index] * (stop - start) for index, (start, stop) in enumerate(windows)])

    def tokens(self, row):
        return self.tokenizer.convert_ids_to_tokens(self.input_ids[row])

    def has_pair(self, row):
        return self.rows[row][2] is not None

    def offsets(self, row):
        """The (start, end) of each token of the row, (0, 0) for special tokens and padding (as offset_mapping)."""
        sample, window_a, window_b = self.rows[row]
        cut = [self._sequence_offsets(sample, 0)[slice(*window_a)]]
        if window_b is not None:
            cut.append(self._sequence_offsets(sample, 1)[slice(*window_b)])
        return [(0, 0) if span is None else span for span in self._assemble(row, cut)]

    def _sequence_offsets(self, sample, index):
        key = ("offsets", sample, index)
        if key not in self._words:
            self._words[key] = self.tokenizer._encode(self.sources[sample][index], True)[1]
        return self._words[key]

    def _sequence_words(self, sample, index):
        key = (sample, index)
        if key not in self._words:
            self._words[key] = self.tokenizer._word_ids(self.sources[sample][index])
        return self._words[key]

    def _assemble(self, row, parts):
        """[None] + A + [None] (+ B + [None]) when special tokens were added, then None for each pad."""
        values = [None, *parts[0], None] if self.add_special_tokens else list(parts[0])
        if len(parts) == 2:
            values += [*parts[1], None] if self.add_special_tokens else parts[1]
        return _pad(values, len(self.input_ids[row]), None, self.padding_side)


class AnsweredLayout:
    """What an unpickled `Layout` becomes: the same answers, stored."""

    def __init__(self, word_ids, sequence_ids, tokens, offsets=None, pairs=None):
        self._word_ids, self._sequence_ids, self._tokens, self._offsets = word_ids, sequence_ids, tokens, offsets
        self._pairs = pairs if pairs is not None else [1 in ids for ids in sequence_ids]

    def has_pair(self, row):
        return self._pairs[row]

    def __len__(self):
        return len(self._word_ids)

    def word_ids(self, row):
        return list(self._word_ids[row])

    def sequence_ids(self, row):
        return list(self._sequence_ids[row])

    def tokens(self, row):
        return list(self._tokens[row])

    def offsets(self, row):
        if self._offsets is None:
            raise TokenizerError("character positions need SqueezeBertTokenizerFast (offsets)")
        return list(self._offsets[row])


# ---------------------------------------------------------------------------------------------------------------
# decoding (the Rust WordPiece decoder, then transformers' optional cleanup)

def _cleanup(text):
    """The replacements of tokenizers' `decoders::wordpiece::cleanup` (applied per token by the Rust decoder)."""
    return (text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't")
            .replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re"))


def wordpiece_decode(tokens, prefix="##"):
    """Glue WordPiece tokens back into text as the Rust decoder does: `##x` joins the previous token, anything else
    gets a space in front, and each token is cleaned up on its own (so `don ' t` keeps its spaces: REFERENCE §7.6).
    Example: ["un", "##aff", "##able", "!"] -> "unaffable!"
    """
    pieces = []
    for i, token in enumerate(tokens):
        if i > 0:
            token = token.replace(prefix, "", 1) if token.startswith(prefix) else " " + token
        pieces.append(_cleanup(token))
    return "".join(pieces)


def clean_up_tokenization(text):
    """transformers' `clean_up_tokenization`, run on the joined string when `clean_up_tokenization_spaces=True`."""
    return (text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
            .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
            .replace(" 've", "'ve").replace(" 're", "'re"))


# ---------------------------------------------------------------------------------------------------------------
# checking the call's arguments

_PADDING = {True: "longest", False: "do_not_pad", "longest": "longest", "max_length": "max_length",
            "do_not_pad": "do_not_pad"}
_TRUNCATION = {True: "longest_first", False: "do_not_truncate", "longest_first": "longest_first",
               "only_first": "only_first", "only_second": "only_second", "do_not_truncate": "do_not_truncate"}


def _lookup(table, value, name):
    """The strategy a `padding` / `truncation` value names. Only a bool or one of the strings: transformers raises
    ValueError for anything else (padding=None or 0 too, which a dict lookup would take for False)."""
    if type(value) is bool or isinstance(value, str):
        with contextlib.suppress(KeyError):
            return table[value]
    choices = ", ".join(repr(k) for k in table)
    raise TokenizerError(f"{name}={value!r} is not one of {choices}")


def _check_int(value, name, minimum, allow_none=True):
    """`value` as a Python int (or None if allowed). Any integral type is accepted, like NumPy's or a 0-d tensor
    (transformers takes `max_length=np.int64(6)`), but not bool and not float."""
    if value is None and allow_none:
        return None
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise TokenizerError(f"{name} must be an int >= {minimum}, got {value!r}")
    return number


def _check_flag(value, name, allow_none=False):
    """`value` as a Python bool (or None if allowed). transformers rejects e.g. add_special_tokens=None with a
    TypeError; used as a truth value it would silently mean False. NumPy bools are accepted, as there."""
    if value is None and allow_none:
        return None
    numpy = sys.modules.get("numpy")  # a NumPy bool can only exist if NumPy is imported
    if type(value) is bool or (numpy is not None and isinstance(value, numpy.bool_)):
        return bool(value)
    allowed = "True, False or None" if allow_none else "True or False"
    raise TokenizerError(f"{name} must be {allowed}, got {value!r}")


# __call__ options of transformers that this package does not implement, with what to do instead; their default,
# None, is accepted
_UNSUPPORTED_OPTIONS = {"text_target": "tokenize the targets in a call of their own",
                        "text_pair_target": "tokenize the targets in a call of their own",
                        "tokenizer_kwargs": "pass the options directly"}


def _check_unsupported(options):
    """Refuse, with a clear message, the `__call__` keywords that transformers has and we do not implement (and,
    as a TokenizerError too, names that transformers does not know either)."""
    for name, value in options.items():
        if name not in _UNSUPPORTED_OPTIONS:
            raise TokenizerError(f"unknown keyword argument {name}={value!r:.40}")
        if value is not None:
            raise TokenizerError(f"{name} is not supported by squeezebert_np: {_UNSUPPORTED_OPTIONS[name]}")


def _as_pairs(text, text_pair):
    """Normalise the accepted input shapes to ([(a, b or None), ...], is_batched).

    Accepted: a string; a string and a `text_pair` string; a list of strings; a list of strings and an equally
    long `text_pair` list; a list of (a, b) pairs. Anything else is a TokenizerError that says what was wrong.
    """
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise TokenizerError(f"text is a single string, so text_pair must be a string or None, "
                                 f"not {type(text_pair).__name__}")
        return [(text, text_pair)], False
    if not isinstance(text, (list, tuple)):
        what = "None" if text is None else type(text).__name__
        hint = " (decode bytes to str first)" if isinstance(text, (bytes, bytearray)) else ""
        raise TokenizerError(f"text must be a string or a list of strings, not {what}{hint}")
    if text_pair is not None:
        if not isinstance(text_pair, (list, tuple)):
            raise TokenizerError("text is a batch, so text_pair must be a list of the same length "
                                 f"(got {type(text_pair).__name__})")
        if len(text_pair) != len(text):
            raise TokenizerError(f"text has {len(text)} items but text_pair has {len(text_pair)}")
        for i, (a, b) in enumerate(zip(text, text_pair)):
            if not isinstance(a, str) or not isinstance(b, str):
                raise TokenizerError(f"batch item {i}: text and text_pair items must be strings, "
                                     f"got {type(a).__name__} and {type(b).__name__}")
        return list(zip(text, text_pair)), True
    pairs = []
    for i, item in enumerate(text):
        if isinstance(item, str):
            pairs.append((item, None))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            pairs.append((item[0], item[1]))
        else:
            raise TokenizerError(f"batch item {i} must be a string or a (text, text_pair) pair of strings, "
                                 f"got {item!r:.80} (for pre-split words pass is_split_into_words=True)")
    return pairs, True


def _is_words(x):
    return isinstance(x, (list, tuple)) and all(isinstance(word, str) for word in x)


def _check_words(words, name):
    if not _is_words(words):
        raise TokenizerError(f"with is_split_into_words=True, {name} must be a list of words (strings), "
                             f"got {words!r:.80}")
    return words


def _as_word_pairs(text, text_pair):
    """`_as_pairs` for `is_split_into_words=True`: ([(words_a, words_b or None), ...], is_batched).

    As transformers decides: `text` is a batch when its first item is a list (or tuple), else it is one sequence
    of words, so [] is one empty sequence. A batch's `text_pair` is an equally long list of word lists; without
    one, a batch item may itself be a pair of word lists. Anything else (a string, a non-string word, a mixed
    batch) is a TokenizerError, where Rust raises a TypeError. `text_pair=[]` is a pair, like `text_pair=""`.
    """
    if not isinstance(text, (list, tuple)):
        raise TokenizerError(f"with is_split_into_words=True, text must be a list of words (strings) or a batch "
                             f"of such lists, not {type(text).__name__}")
    if not (text and isinstance(text[0], (list, tuple))):
        pair = None if text_pair is None else _check_words(text_pair, "text_pair")
        return [(_check_words(text, "text"), pair)], False
    if text_pair is not None:
        if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(text):
            raise TokenizerError(f"text is a batch of {len(text)} word lists, so text_pair must be a list of as "
                                 f"many word lists, got {text_pair!r:.80}")
        return [(_check_words(a, f"batch item {i}"), _check_words(b, f"text_pair item {i}"))
                for i, (a, b) in enumerate(zip(text, text_pair))], True
    pairs = []
    for i, item in enumerate(text):
        if _is_words(item):
            pairs.append((item, None))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(map(_is_words, item)):
            pairs.append((item[0], item[1]))
        else:
            raise TokenizerError(f"with is_split_into_words=True, batch item {i} must be a list of words or a "
                                 f"pair of them, got {item!r:.80}")
    return pairs, True


# ---------------------------------------------------------------------------------------------------------------
# truncation: the arithmetic of tokenizers' `truncate_encodings` and `Encoding::truncate`

def truncation_windows(n, max_len, stride, side="right"):
    """The (start, stop) windows that truncating n tokens to max_len keeps, the kept one first.

    Windows overlap by `stride` tokens; the later ones are the "overflowing tokens". Matches `Encoding::truncate`,
    including its two edge cases: nothing to cut gives one window, max_len 0 moves everything to overflow.
    side="right" keeps the start and walks forwards, side="left" (transformers' `truncation_side="left"`) keeps
    the end and walks backwards. Example: n=10, max_len=4, stride=1 -> [(0, 4), (3, 7), (6, 10)] on the right,
    [(6, 10), (3, 7), (0, 4)] on the left; n=9 on the left -> [(5, 9), (2, 6), (0, 3)].
    """
    if max_len >= n:
        return [(0, n)]
    if max_len == 0:
        return [(0, 0), (0, n)]
    if stride >= max_len:
        raise TokenizerError(f"stride ({stride}) must be smaller than the number of tokens kept per window "
                             f"({max_len}, after the special tokens are counted)")
    windows = []
    if side == "right":
        for start in range(0, n, max_len - stride):
            stop = min(start + max_len, n)
            windows.append((start, stop))
            if stop == n:
                break
    else:
        for stop in range(n, 0, -(max_len - stride)):
            start = max(stop - max_len, 0)
            windows.append((start, stop))
            if start == 0:
                break
    return windows


def truncated_lengths(len_a, len_b, budget, strategy):
    """How many tokens of each sequence to keep so that len_a + len_b fits in `budget`.

    `longest_first` cuts the longer one first and, when both must be cut, gives an odd budget's extra token to the
    second sequence (Rust; the Python tokenizer gives it to the first: REFERENCE §7.7 row 6). `only_first` and
    `only_second` cut one sequence and fail if it is too short, as Rust does (Python logs and returns it uncut).
    """
    total = len_a + (len_b or 0)
    if strategy == "do_not_truncate":
        return len_a, len_b
    if budget == 0:  # Rust's first case, whatever the strategy: keep nothing of either (all of it overflows)
        return 0, (None if len_b is None else 0)
    if total <= budget:
        return len_a, len_b
    if strategy == "longest_first":
        if len_b is None:
            return budget, None
        n1, n2 = sorted((len_a, len_b))
        n2 = n1 if n1 > budget else max(n1, budget - n1)
        if n1 + n2 > budget:
            n1, n2 = budget // 2, budget - budget // 2
        return (n1, n2) if len_a <= len_b else (n2, n1)
    if strategy == "only_second" and len_b is None:
        raise TokenizerError("truncation='only_second' needs a text_pair")
    target = len_a if strategy == "only_first" else len_b
    to_remove = total - budget
    if target <= to_remove:
        raise TokenizerError(f"truncation={strategy!r}: that sequence has {target} tokens, too few to remove the "
                             f"{to_remove} needed for max_length (use truncation='longest_first')")
    return (len_a - to_remove, len_b) if strategy == "only_first" else (len_a, len_b - to_remove)


# ---------------------------------------------------------------------------------------------------------------
# the base class

class TokenizerBase(SpecialTokensMixin):
    """Vocabulary, special tokens and the transformers-style call API; subclasses implement `_encode_text`."""

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(self, vocab_file=None, do_lower_case=True, unk_token="[UNK]", sep_token="[SEP]",
                 pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", tokenize_chinese_chars=True,
                 strip_accents=None, model_max_length=512, padding_side="right", truncation_side="right",
                 clean_up_tokenization_spaces=False, vocab=None, max_input_chars_per_word=100, bos_token=None,
                 eos_token=None, extra_special_tokens=None, additional_special_tokens=None,
                 added_tokens_decoder=None, merges=None, **kwargs):
        """The settings of BERT's tokenizer, as transformers' `BertTokenizer(...)` takes them. Also accepted, as a
        saved transformers tokenizer passes them: `added_tokens_decoder` ({id: AddedToken or its dict}: the ids
        must be the ones adding them in order gives), `extra_special_tokens` / `additional_special_tokens`,
        `bos_token` / `eos_token`, `merges=None` (WordPiece has none) and the bookkeeping keys of
        `IGNORED_INIT_KWARGS`; anything else is a TokenizerError."""
        self.init_kwargs = {key: value for key, value in locals().items()
                            if key not in ("self", "kwargs", "__class__")}
        self.init_kwargs.update(kwargs)
        _check_init_kwargs(kwargs, merges)
        if vocab is not None and vocab_file is not None:
            raise TokenizerError("pass either vocab_file or vocab, not both")
        _check_side(padding_side, "padding_side")
        _check_side(truncation_side, "truncation_side")
        model_max_length = _check_int(model_max_length, "model_max_length", 1, allow_none=False)
        max_input_chars_per_word = _check_int(max_input_chars_per_word, "max_input_chars_per_word", 1,
                                              allow_none=False)
        if strip_accents not in (None, True, False):
            raise TokenizerError(f"strip_accents must be None, True or False, got {strip_accents!r}")

        if vocab is None:
            self.vocab_file = vocab_file if vocab_file is not None else default_vocab_file()
            vocab = load_vocab(self.vocab_file)
            source = self.vocab_file
        else:
            if not isinstance(vocab, dict):
                raise TokenizerError(f"vocab must be a dict of token -> id, not {type(vocab).__name__}")
            self.vocab_file, source = None, "dict"
            vocab = dict(vocab)
        self.name_or_path = kwargs.get("name_or_path", "")
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.model_max_length = model_max_length
        self.padding_side = padding_side
        self.truncation_side = truncation_side
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.max_input_chars_per_word = max_input_chars_per_word
        self._warned_too_long = False  # the too-long warning is logged once per tokenizer, as in transformers
        self.deprecation_warnings = {}  # read and written by transformers' data collators

        # special tokens: the named ones, the extra ones, then all of them (and any saved added tokens) become
        # added tokens, as transformers' TokenizersBackend.__init__ does
        self._special_tokens_map = dict.fromkeys(SPECIAL_TOKENS_ATTRIBUTES)
        named = {"bos_token": bos_token, "eos_token": eos_token, "unk_token": unk_token, "sep_token": sep_token,
                 "pad_token": pad_token, "cls_token": cls_token, "mask_token": mask_token}
        for name, value in named.items():
            if value is not None and not (isinstance(value, (str, AddedToken)) or hasattr(value, "content")):
                raise TokenizerError(f"{name} must be a string or an AddedToken, got {value!r:.40}")
            if (value is None and name in ("unk_token", "cls_token", "sep_token")) or (value is not None
                                                                                  and not str(value)):
                raise TokenizerError(f"{name} must be a non-empty string (BERT's WordPiece and its [CLS] A [SEP] "
                                     f"template need it), got {value!r}")
            self._special_tokens_map[name] = value
        check_vocab(vocab, [], source)
        if str(unk_token) not in vocab:
            raise TokenizerError(f"vocabulary {source} lacks the unknown token {unk_token!r} (WordPiece needs it "
                                 "in the vocabulary itself)")
        extra = extra_special_tokens if extra_special_tokens is not None else additional_special_tokens
        self.extra_special_tokens = extra
        self.vocab = vocab                                           # token -> id
        self.ids_to_tokens = sorted(vocab, key=vocab.__getitem__)    # id -> token
        from .tokenization import BasicTokenizer  # (tokenization.py imports this module)
        self._basic = BasicTokenizer(self.do_lower_case, self.tokenize_chinese_chars, self.strip_accents)
        self._added = AddedVocabulary(vocab, self._basic.normalize)
        self._add_initial_tokens(added_tokens_decoder)
        # fixed here, as transformers' Rust pipeline fixes them when built: the [CLS] A [SEP] template and
        # WordPiece's unknown token (renaming a special token later changes its *_token_id, not these)
        self._cls_id, self._sep_id = self.cls_token_id, self.sep_token_id
        self._unk_id = self.vocab[str(unk_token)]

    def _add_initial_tokens(self, added_tokens_decoder):
        """Add the saved added tokens (by id), then each special token not among them, in one go (transformers'
        order); each saved token must get back its saved id."""
        saved = _saved_added_tokens(added_tokens_decoder)
        tokens = [token for _, token in saved]
        contents = {token.content for token in tokens}
        for value in [*self._special_tokens_map.values(), *self._extra_special_tokens]:
            if value is not None and str(value) not in contents:
                token = AddedToken.of(value, special=True)
                token.special = True
                tokens.append(token)
                contents.add(token.content)
        self._added.add(tokens)
        for saved_id, token in saved:
            if self._added.encoder.get(token.content) != saved_id:
                raise TokenizerError(f"added token {token.content!r:.40} is saved with id {saved_id}, but adding the "
                                     f"saved tokens in order gives it id {self._added.encoder.get(token.content)}: "
                                     "added ids must follow the vocabulary without gaps")

    # ---- the vocabulary --------------------------------------------------------------------------------

    pad_token_type_id = 0

    @property
    def vocab_size(self):
        """The size of the WordPiece vocabulary, without added tokens (see `len(tokenizer)`)."""
        return len(self.vocab)

    def __len__(self):
        """The size of the vocabulary with the added tokens: what `resize_token_embeddings` needs."""
        return len(self.vocab) + sum(1 for token in self._added.encoder if token not in self.vocab)

    def get_vocab(self):
        """{token: id} of the vocabulary and the added tokens."""
        return {**self.vocab, **self._added.encoder}

    def __repr__(self):
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
                f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r}, "
                f"truncation_side={self.truncation_side!r}, added_tokens={len(self._added)})")

    # ---- what a subclass provides ---------------------------------------------------------------------

    def _encode_text(self, text, with_offsets):
        """Token ids of `text` (no special tokens added, literal ones already split out), and if asked the
        (start, end) character span of each token in `text`; offsets are None when not asked for."""
        raise NotImplementedError

    def _word_lengths(self, text):
        """How many tokens each pre-tokenizer word of `text` (literal special tokens already split out) gives,
        in order; a word always gives at least one ([UNK] if nothing else). Only `word_ids` needs it."""
        raise NotImplementedError

    def _segments(self, text):
        """Cut `text` at its added tokens, as Rust's AddedVocabulary does (see added_tokens.py). Yields
        (token_id, None, (start, end)) for an added token and (None, piece, where) for text to tokenize, `where`
        giving for each character of `piece` its index in `text` (a piece found in the normalised text is
        normalised text: tokenizing it again changes nothing, and `where` maps it back)."""
        added = self._added
        for start, end, token_id in added.find(text, added.raw_matcher):
            if token_id is not None:
                yield token_id, None, (start, end)
                continue
            piece = text[start:end]
            if added.normalized_matcher is not None:
                normalized, origins = self._basic.normalize_aligned(piece)
                if added.normalized_matcher[0].search(normalized):
                    for s, e, found in added.find(normalized, added.normalized_matcher):
                        where = [start + origins[i] for i in range(s, e)]
                        if found is not None:
                            yield found, None, (where[0], where[-1] + 1)
                        else:
                            yield None, normalized[s:e], where
                    continue
            yield None, piece, range(start, end)

    def _encode(self, text, with_offsets):
        """Ids (and offsets into `text`) of one sequence, with added tokens ([MASK] and the others) kept whole.
        A list of words (is_split_into_words=True) goes to `_encode_words`."""
        if not isinstance(text, str):
            return self._encode_words(text, with_offsets)
        added = self._added
        if added.normalized_matcher is None and (added.raw_matcher is None or
                                                 added.raw_matcher[0].search(text) is None):
            return self._encode_text(text, with_offsets)
        ids, offsets = [], [] if with_offsets else None
        for token_id, piece, where in self._segments(text):
            if token_id is not None:
                ids.append(token_id)
                if with_offsets:
                    offsets.append(where)
                continue
            piece_ids, piece_offsets = self._encode_text(piece, with_offsets)
            ids += piece_ids
            if with_offsets:
                offsets += [(where[s], where[e - 1] + 1) if e > s else (where[s],) * 2 for s, e in piece_offsets]
        return ids, offsets

    def _encode_words(self, words, with_offsets):
        """Ids and offsets of a pre-split sequence: each word is encoded on its own, as Rust encodes each word of
        a pre-tokenized input (so "don't" still splits at the apostrophe, "" and " " give no token, "[MASK]"
        stays whole), and each token's offsets are relative to its word, as Rust gives them."""
        ids, offsets = [], [] if with_offsets else None
        for word in words:
            word_ids, word_offsets = self._encode(word, with_offsets)
            ids += word_ids
            if with_offsets:
                offsets += word_offsets
        return ids, offsets

    def _word_ids(self, sequence):
        """The word index of each token of one sequence, without special tokens (what `word_ids` cuts and pads).

        Pre-split words: the index of the word in the list (a word that gives no token skips its index). Text:
        Rust numbers the pieces that remain after added tokens ([MASK]...) are split out and the rest is
        pre-tokenized (split at whitespace and around punctuation); each added token is one of them, and text
        that normalises to nothing adds none.
        """
        if not isinstance(sequence, str):
            lengths = [len(self._encode(word, False)[0]) for word in sequence]
        else:
            lengths = []
            for token_id, piece, _ in self._segments(sequence):
                lengths += [1] if token_id is not None else self._word_lengths(piece)
        return [index for index, n in enumerate(lengths) for _ in range(n)]

    # ---- tokens <-> ids --------------------------------------------------------------------------------

    def tokenize(self, text, pair=None, add_special_tokens=False):
        """The WordPiece tokens of `text` (and `pair`) as strings. Example: "unaffable" -> ['un', '##aff', '##able']"""
        if not isinstance(text, str) or (pair is not None and not isinstance(pair, str)):
            raise TokenizerError("tokenize takes a string (and optionally a pair string)")
        ids = self.encode(text, pair, add_special_tokens=add_special_tokens)
        return self.convert_ids_to_tokens(ids)

    def convert_tokens_to_ids(self, tokens):
        """Token string(s) -> id(s); a token not in the vocabulary maps to the [UNK] id.

        Anything but a string or an iterable of strings is a TokenizerError (transformers: TypeError), rather than
        [UNK] for a non-string item such as None or 5.
        """
        unk = self._added.token_to_id(self.unk_token)  # (unk_token_id itself calls this method)
        if isinstance(tokens, str):
            found = self._added.token_to_id(tokens)
            return unk if found is None else found
        try:
            tokens = list(tokens)
        except TypeError:
            raise TokenizerError(f"convert_tokens_to_ids takes a token string or a list of them, "
                                 f"not {type(tokens).__name__}") from None
        if not all(isinstance(t, str) for t in tokens):
            bad = next(t for t in tokens if not isinstance(t, str))
            raise TokenizerError(f"tokens must be strings, got {bad!r:.40} ({type(bad).__name__})")
        return [unk if found is None else found for found in map(self._added.token_to_id, tokens)]

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Id(s) -> token string(s). An id past the vocabulary gives None, as transformers' Rust path does (the
        official checkpoints have 30,528 embedding rows for 30,522 tokens). Takes an id (also a NumPy or 0-d torch
        one) or one sequence of them (list, 1-D array or tensor)."""
        skip_special_tokens = _check_flag(skip_special_tokens, "skip_special_tokens")
        ids, rank = _ids_and_rank(ids)
        if rank == 0:
            return self._id_to_token(ids)
        if rank == 2:
            raise TokenizerError("convert_ids_to_tokens takes one sequence of ids, not a batch")
        return self._ids_to_tokens(ids, skip_special_tokens)

    def _ids_to_tokens(self, ids, skip_special_tokens):
        """Rust skips a token whose string (for a normalized added token, its normalised form) is a special one."""
        tokens = [self._id_to_token(i) for i in ids]
        if skip_special_tokens:
            special = self._added.special_contents
            tokens = [token for token in tokens if token not in special]
        return tokens

    def _id_to_token(self, i):
        """An added token first (its id may be past the vocabulary), then the vocabulary; None past both."""
        if i < 0:
            raise TokenizerError(f"token ids must be >= 0, got {i}")
        added = self._added.surface.get(i)
        if added is not None:
            return added
        return self.ids_to_tokens[i] if i < len(self.ids_to_tokens) else None

    # ---- the special-token layout ([CLS] A [SEP] B [SEP]) -------------------------------------------

    def num_special_tokens_to_add(self, pair=False):
        return 3 if pair else 2

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        """[CLS] A [SEP] or [CLS] A [SEP] B [SEP] (the slow tokenizer's method; v5's Rust one has no such method)."""
        out = [self._cls_id] + list(token_ids_0) + [self._sep_id]
        if token_ids_1 is not None:
            out += list(token_ids_1) + [self._sep_id]
        return out

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        """0 for [CLS] A [SEP], 1 for B [SEP]."""
        out = [0] * (len(token_ids_0) + 2)
        if token_ids_1 is not None:
            out += [1] * (len(token_ids_1) + 1)
        return out

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        """1 where `build_inputs_with_special_tokens` would put a special token; with
        `already_has_special_tokens=True`, 1 on every id of a special token ([PAD], [UNK] and [MASK] included)."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise TokenizerError("already_has_special_tokens=True takes one list of ids that already has them")
            special = set(self.all_special_ids)
            return [1 if i in special else 0 for i in self._as_id_list(token_ids_0)]
        out = [1] + [0] * len(token_ids_0) + [1]
        if token_ids_1 is not None:
            out += [0] * len(token_ids_1) + [1]
        return out

    # ---- encoding ----------------------------------------------------------------------------------

    def encode(self, text, text_pair=None, add_special_tokens=True, **kwargs):
        """The input ids of one text (or pair): `tok(text, text_pair, ...)["input_ids"]`; with
        `is_split_into_words=True`, of one list of words (or pair of them)."""
        if kwargs.get("is_split_into_words") is not True:
            if not isinstance(text, str):
                raise TokenizerError("encode takes one string; call the tokenizer itself for a batch")
        elif isinstance(text, (list, tuple)) and text and isinstance(text[0], (list, tuple)):
            raise TokenizerError("encode takes one list of words; call the tokenizer itself for a batch")
        return self(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def __call__(self, text, text_pair=None, *, add_special_tokens=True, padding=False, truncation=None,
                 max_length=None, stride=0, pad_to_multiple_of=None, padding_side=None, return_tensors=None,
                 return_token_type_ids=None, return_attention_mask=None, return_overflowing_tokens=False,
                 return_special_tokens_mask=False, return_offsets_mapping=False, return_length=False,
                 verbose=True, is_split_into_words=False, split_special_tokens=None, **unsupported):
        """Tokenize a text, a pair, or a batch of either, the way transformers' `BertTokenizer.__call__` does.

        Returns a `BatchEncoding` with `input_ids`, `token_type_ids` and `attention_mask` (plus what the
        `return_*` flags ask for). Lists for one text, lists of lists for a batch; `return_tensors="np"` gives
        int64 arrays of shape [batch, length] (offsets: [batch, length, 2]). Truncation cuts on the side of the
        tokenizer's `truncation_side` ("right" unless set, e.g. by a tokenizer_config.json).

        `is_split_into_words=True` takes pre-split words instead of text: a list of words, a batch of such lists,
        and pairs of either (see `_as_word_pairs`). Each word is normalised and pre-tokenized on its own (so
        punctuation inside a word still splits off, and an empty word gives no token), offsets are relative to
        each word, and `word_ids()` of the result maps every token to its word: transformers' Rust behaviour.

        Flags must be bools, as transformers demands of `add_special_tokens` (None only where it means "the
        default"). `verbose=False` silences the warning about sequences longer than `model_max_length`.
        `split_special_tokens=True`, `text_target` and `text_pair_target` are transformers options we do not
        implement: a TokenizerError says so.
        """
        _check_unsupported(unsupported)
        is_split_into_words = _check_flag(is_split_into_words, "is_split_into_words")
        if _check_flag(split_special_tokens, "split_special_tokens", allow_none=True):
            raise TokenizerError("split_special_tokens=True is not supported by squeezebert_np: literal special "
                                 "tokens in the text are always kept whole")
        add_special_tokens = _check_flag(add_special_tokens, "add_special_tokens")
        return_token_type_ids = _check_flag(return_token_type_ids, "return_token_type_ids", allow_none=True)
        return_attention_mask = _check_flag(return_attention_mask, "return_attention_mask", allow_none=True)
        return_overflowing_tokens = _check_flag(return_overflowing_tokens, "return_overflowing_tokens")
        return_special_tokens_mask = _check_flag(return_special_tokens_mask, "return_special_tokens_mask")
        return_offsets_mapping = _check_flag(return_offsets_mapping, "return_offsets_mapping")
        return_length = _check_flag(return_length, "return_length")
        verbose = _check_flag(verbose, "verbose")

        pairs, is_batched = (_as_word_pairs if is_split_into_words else _as_pairs)(text, text_pair)
        stride = _check_int(stride, "stride", 0, allow_none=False)
        pad_to_multiple_of = _check_int(pad_to_multiple_of, "pad_to_multiple_of", 1)
        padding, truncation, max_length = self._resolve_strategies(
            padding, truncation, max_length, stride, pad_to_multiple_of)
        if padding_side is None:
            padding_side = self.padding_side
        _check_side(padding_side, "padding_side")
        _check_side(self.truncation_side, "truncation_side")  # an attribute: it may have been set since __init__
        if return_tensors not in (None, "np"):
            raise TokenizerError(f"return_tensors={return_tensors!r} is not supported: only 'np' (NumPy) or None "
                                 "(lists)")

        with cycle_collector_paused() as collect_young:
            encodings, sample_of, layout = [], [], Layout(self, pairs, add_special_tokens)
            for index, (a, b) in enumerate(pairs):
                for enc, windows in self._encode_pair(a, b, add_special_tokens, truncation, max_length, stride,
                                                      return_offsets_mapping, return_overflowing_tokens):
                    encodings.append(enc)
                    sample_of.append(index)
                    layout.rows.append((index, *windows))
                collect_young()
            # transformers warns only when nothing set a max_length (no truncation, no padding to max_length)
            return self._collate(encodings, sample_of, padding, max_length, pad_to_multiple_of, padding_side,
                                 return_tensors, is_batched, return_token_type_ids, return_attention_mask,
                                 return_overflowing_tokens, return_special_tokens_mask, return_offsets_mapping,
                                 return_length, warn_too_long=verbose and max_length is None, layout=layout)

    def _resolve_strategies(self, padding, truncation, max_length, stride, pad_to_multiple_of):
        """transformers' `_get_padding_truncation_strategies`, with its errors made TokenizerErrors.
        (`stride` and `pad_to_multiple_of` come checked.)"""
        max_length = _check_int(max_length, "max_length", 0)
        # kept from transformers: max_length alone (no padding, truncation unset) means "truncate to it"
        if truncation is None:
            truncation = "longest_first" if max_length is not None and padding is False else "do_not_truncate"
        # (padding=None or 0 would not count as False here, and _lookup refuses them: transformers' ValueError)
        padding = _lookup(_PADDING, padding, "padding")
        truncation = _lookup(_TRUNCATION, truncation, "truncation")
        if max_length is None:
            unlimited = self.model_max_length > NO_LIMIT
            if padding == "max_length":
                padding = "do_not_pad" if unlimited else padding
            if truncation != "do_not_truncate":
                truncation = "do_not_truncate" if unlimited else truncation
            if padding == "max_length" or truncation != "do_not_truncate":
                max_length = self.model_max_length
        n_special = self.num_special_tokens_to_add(False)
        if truncation != "do_not_truncate" and n_special <= max_length < stride + n_special:
            # tokenizers' check when transformers enables truncation, made before looking at the text
            raise TokenizerError(f"stride={stride} is too large for max_length={max_length}: it may be at most "
                                 f"max_length minus the {n_special} special tokens of a sequence")
        if (truncation != "do_not_truncate" and padding != "do_not_pad" and pad_to_multiple_of is not None
                and max_length % pad_to_multiple_of != 0):
            raise TokenizerError(f"truncation to max_length={max_length} and padding to a multiple of "
                                 f"{pad_to_multiple_of} conflict: max_length must be a multiple of it")
        return padding, truncation, max_length

    def _encode_pair(self, a, b, add_special_tokens, truncation, max_length, stride, with_offsets,
                     keep_overflow):
        """The encodings of one (a, b) item: the truncated one first, then the overflowing windows if asked.

        Each comes as (encoding, windows): the encoding is a tuple (ids, type_ids, special_tokens_mask, offsets
        or None), the windows are the (start, stop) of A and of B (None without B) that it holds, for `Layout`.
        """
        ids_a, offsets_a = self._encode(a, with_offsets)
        ids_b, offsets_b = self._encode(b, with_offsets) if b is not None else (None, None)
        if truncation == "do_not_truncate":
            windows = (0, len(ids_a)), None if ids_b is None else (0, len(ids_b))
            return [(self._wrap(ids_a, offsets_a, ids_b, offsets_b, add_special_tokens), windows)]

        n_special = self.num_special_tokens_to_add(b is not None) if add_special_tokens else 0
        if max_length < n_special:
            raise TokenizerError(f"max_length={max_length} is smaller than the {n_special} special tokens "
                                 f"every {'pair' if b is not None else 'sequence'} needs")
        len_b = None if ids_b is None else len(ids_b)
        keep_a, keep_b = truncated_lengths(len(ids_a), len_b, max_length - n_special, truncation)
        side = self.truncation_side
        windows_a = truncation_windows(len(ids_a), keep_a, stride, side)
        windows_b = truncation_windows(len_b, keep_b, stride, side) if ids_b is not None else [None]
        # Rust's Encoding::merge_with order: (A0, B0), then each later A window with every B window, then
        # A0 with the later B windows (REFERENCE §7.5: 9 encodings for 10+10 tokens, max_length=12, stride=1)
        order = [(windows_a[0], windows_b[0])]
        if keep_overflow:
            order += [(wa, wb) for wa in windows_a[1:] for wb in windows_b]
            order += [(windows_a[0], wb) for wb in windows_b[1:]]
        return [(self._wrap(ids_a[wa[0]:wa[1]], None if offsets_a is None else offsets_a[wa[0]:wa[1]],
                            None if wb is None else ids_b[wb[0]:wb[1]],
                            None if wb is None or offsets_b is None else offsets_b[wb[0]:wb[1]],
                            add_special_tokens), (wa, wb))
                for wa, wb in order]

    def _wrap(self, ids_a, offsets_a, ids_b, offsets_b, add_special_tokens):
        """Add [CLS] A [SEP] (B [SEP]) with their token types, special-token mask and (0, 0) offsets."""
        n_a, n_b = len(ids_a), (0 if ids_b is None else len(ids_b))
        if not add_special_tokens:
            ids = ids_a if ids_b is None else ids_a + ids_b
            types = [0] * n_a + [1] * n_b
            special = [0] * (n_a + n_b)
            offsets = None if offsets_a is None else (offsets_a if ids_b is None else offsets_a + offsets_b)
            return ids, types, special, offsets
        cls, sep = self._cls_id, self._sep_id
        if ids_b is None:
            ids = [cls, *ids_a, sep]
            types = [0] * (n_a + 2)
            special = [1, *[0] * n_a, 1]
            offsets = None if offsets_a is None else [(0, 0), *offsets_a, (0, 0)]
        else:
            ids = [cls, *ids_a, sep, *ids_b, sep]
            types = [0] * (n_a + 2) + [1] * (n_b + 1)
            special = [1, *[0] * n_a, 1, *[0] * n_b, 1]
            offsets = None if offsets_a is None else [(0, 0), *offsets_a, (0, 0), *offsets_b, (0, 0)]
        return ids, types, special, offsets

    def _collate(self, encodings, sample_of, padding, max_length, pad_to_multiple_of, padding_side,
                 return_tensors, is_batched, return_token_type_ids, return_attention_mask,
                 return_overflowing_tokens, return_special_tokens_mask, return_offsets_mapping, return_length,
                 warn_too_long=False, layout=None):
        """Pad the encodings to a common length if asked and lay them out as a BatchEncoding (which keeps
        `layout`, told the padded ids, for its `word_ids`)."""
        lengths = [len(enc[0]) for enc in encodings]
        target = None
        if padding == "longest":  # Rust pads to the longest first window of each sample (overflow may be longer)
            target = max((n for n, i, previous in zip(lengths, sample_of, [None] + sample_of) if i != previous),
                         default=0)
        elif padding == "max_length":
            target = max_length
        if target is not None and pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        if target is not None:
            _check_padded_size(len(encodings), target)
            self._check_pad_token()

        fields = {"input_ids": [enc[0] for enc in encodings]}
        if return_token_type_ids is not False:
            fields["token_type_ids"] = [enc[1] for enc in encodings]
        if return_attention_mask is not False:
            fields["attention_mask"] = [[1] * n for n in lengths]
        if return_special_tokens_mask:
            fields["special_tokens_mask"] = [enc[2] for enc in encodings]
        if return_offsets_mapping:
            fields["offset_mapping"] = [enc[3] for enc in encodings]
        if target is not None:
            fill = {"input_ids": self.pad_token_id, "token_type_ids": self.pad_token_type_id,
                    "attention_mask": 0, "special_tokens_mask": 1, "offset_mapping": (0, 0)}
            for key, rows in fields.items():
                fields[key] = [_pad(row, target, fill[key], padding_side) for row in rows]
        if warn_too_long:
            self._warn_if_too_long(fields["input_ids"])
        if return_length:
            fields["length"] = [len(row) for row in fields["input_ids"]]
        if return_overflowing_tokens:
            fields["overflow_to_sample_mapping"] = sample_of
        if layout is not None:
            layout.input_ids, layout.padding_side = fields["input_ids"], padding_side

        if return_tensors == "np":
            return BatchEncoding(((key, _to_array(key, rows)) for key, rows in fields.items()), layout)
        if not is_batched and not return_overflowing_tokens:  # one text: drop the batch level of list fields
            return BatchEncoding(((key, rows[0] if isinstance(rows[0], list) else rows)
                                  for key, rows in fields.items()), layout)
        return BatchEncoding(fields, layout)

    def _check_pad_token(self):
        if self.pad_token is None:
            raise TokenizerError("padding needs a pad token, and pad_token is None: set one, e.g. "
                                 "tok.pad_token = '[PAD]'")

    def _warn_if_too_long(self, rows):
        """transformers' `_eventual_warn_about_too_long_sequence`: once per tokenizer, log that a sequence (after
        padding) is longer than `model_max_length`, since the model would fail on it. Same text, logger
        "squeezebert_np"."""
        if self._warned_too_long:
            return
        length = next((len(row) for row in rows if len(row) > self.model_max_length), None)
        if length is not None:
            logger.warning("Token indices sequence length is longer than the specified maximum sequence length "
                           f"for this model ({length} > {self.model_max_length}). Running this sequence through "
                           "the model will result in indexing errors")
            self._warned_too_long = True

    # ---- padding encodings made earlier (what DataCollatorWithPadding calls) ---------------------------

    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None, padding_side=None,
            return_attention_mask=None, return_tensors=None, verbose=True):
        """Pad one encoding or a batch of them, as transformers' `pad` (see `padding.py`): `padding=True` pads to
        the longest row, "max_length" to `max_length` (else `model_max_length`), False not at all; then up to a
        multiple of `pad_to_multiple_of`. Only input_ids, token_type_ids, special_tokens_mask and attention_mask
        are padded. With NumPy arrays or torch tensors as values, or return_tensors="np", fields come back as
        NumPy arrays (transformers would give torch tensors back for torch input; this package has no torch).
        Example: tok.pad([tok("hi"), tok("hello world")], return_tensors="np")["input_ids"].shape -> (2, 4)"""
        fields = padding_module.as_dict_of_lists(encoded_inputs)
        if "input_ids" not in fields:
            raise TokenizerError(f"pad needs an 'input_ids' field, got {', '.join(map(repr, fields)) or 'none'}")
        _check_flag(verbose, "verbose")  # transformers' pad has nothing to warn about either
        return_attention_mask = _check_flag(return_attention_mask, "return_attention_mask", allow_none=True)
        if return_tensors not in (None, "np"):
            raise TokenizerError(f"return_tensors={return_tensors!r} is not supported: only 'np' (NumPy) or None")
        if padding_side is None:
            padding_side = self.padding_side
        _check_side(padding_side, "padding_side")
        pad_to_multiple_of = _check_int(pad_to_multiple_of, "pad_to_multiple_of", 1)
        padding, _, max_length = self._resolve_strategies(padding, False, max_length, 0, None)
        converted = {key: padding_module.to_python(value) for key, value in fields.items()}
        fields = {key: value for key, (value, _) in converted.items()}
        if any(was_array for _, was_array in converted.values()) and return_tensors is None:
            return_tensors = "np"
        make_mask = return_attention_mask is not False
        fills = {"input_ids": self.pad_token_id, "token_type_ids": self.pad_token_type_id,
                 "special_tokens_mask": 1, "attention_mask": 0}

        ids = fields["input_ids"]
        if not isinstance(ids, list):
            raise TokenizerError(f"pad: input_ids must be a list of ids or of id lists, got {ids!r:.60}")
        if not ids:  # nothing to pad (transformers returns the input)
            if return_attention_mask:
                fields["attention_mask"] = []
            return BatchEncoding(padding_module.to_arrays(fields) if return_tensors else fields)
        batched = isinstance(ids[0], list)
        rows = ids if batched else [ids]
        for key in padding_module.PADDED_FIELDS:
            if key in fields:
                values = fields[key] if batched else [fields[key]]
                if not isinstance(values, list) or len(values) != len(rows):
                    raise TokenizerError(f"pad: {key} has {len(values) if isinstance(values, list) else 'no'} "
                                         f"rows but input_ids has {len(rows)}")
                for index, row in enumerate(values):
                    padding_module.check_ids(row, key, index if batched else None)
        if batched and any(not isinstance(v, list) or len(v) != len(rows) for v in fields.values()):
            bad = next(k for k, v in fields.items() if not isinstance(v, list) or len(v) != len(rows))
            raise TokenizerError(f"pad: every field needs one value per example ({len(rows)}), {bad} does not")

        target = {"longest": max(map(len, rows)), "max_length": max_length, "do_not_pad": None}[padding]
        if target is not None and pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        if target is not None:
            _check_padded_size(len(rows), target)
            self._check_pad_token()
        if batched:
            examples = [padding_module.pad_row({k: v[i] for k, v in fields.items()}, target, fills, padding_side,
                                               make_mask) for i in range(len(rows))]
            fields = {key: [example[key] for example in examples] for key in examples[0]}
        else:
            fields = padding_module.pad_row(fields, target, fills, padding_side, make_mask)
        return BatchEncoding(padding_module.to_arrays(fields) if return_tensors else fields)

    # ---- decoding ------------------------------------------------------------------------------------

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """Ids -> text, as transformers v5 does: the WordPiece decoder (`##` glued, per-token cleanup), then
        transformers' cleanup on the whole string only if `clean_up_tokenization_spaces` (default False in v5;
        v4 defaulted to True for BERT, which turns `don ' t` into `don't`). Ids past the vocabulary are skipped.

        `token_ids`: an id, a list of ids, a 1-D NumPy array or torch tensor, or a BatchEncoding / dict (its
        "input_ids"). As in v5, a batch (a list of id lists, a 2-D array or tensor) gives a list of texts.
        """
        skip_special_tokens, clean_up_tokenization_spaces = _check_decode_flags(skip_special_tokens,
                                                                                clean_up_tokenization_spaces)
        ids, rank = _ids_and_rank(_input_ids_of(token_ids))
        if rank == 2:
            return [self._decode(row, skip_special_tokens, clean_up_tokenization_spaces) for row in ids]
        return self._decode([ids] if rank == 0 else ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """`decode` of each row of a list of id lists, a 2-D array or tensor, or a BatchEncoding's input_ids.

        A single sequence (a flat list of ids, a 1-D array) is decoded as one text, as v5 does (it also warns
        that this is deprecated): batch_decode([101, 7592, 102]) -> ["[CLS] hello [SEP]"].
        """
        skip_special_tokens, clean_up_tokenization_spaces = _check_decode_flags(skip_special_tokens,
                                                                                clean_up_tokenization_spaces)
        ids, rank = _ids_and_rank(_input_ids_of(sequences))
        if rank == 0:
            raise TokenizerError(f"batch_decode takes a list of id lists (or a 2-D array), not the single id "
                                 f"{ids}: use decode")
        rows = ids if rank == 2 else [ids] if ids else []
        return [self._decode(row, skip_special_tokens, clean_up_tokenization_spaces) for row in rows]

    def _decode(self, ids, skip_special_tokens, clean_up_tokenization_spaces):
        """One list of int ids -> text."""
        tokens = [t for t in self._ids_to_tokens(ids, skip_special_tokens) if t is not None]
        text = wordpiece_decode(tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    @staticmethod
    def _as_id_list(ids):
        """A list of Python ints from a list, tuple, 1-D integer array or tensor; TokenizerError otherwise."""
        ids, rank = _ids_and_rank(ids)
        if rank != 1:
            raise TokenizerError(f"expected one sequence of token ids (a list of ints), got {ids!r:.80}")
        return ids

    # ---- loading and saving ----------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path_or_repo_id, *, subfolder=None, revision=None, cache_dir=None,
                        local_files_only=False, token=None, **kwargs):
        """Load from a directory or hub repo (`subfolder` inside it, if given): the vocabulary of `tokenizer.json`
        (its model.vocab and added_tokens: REFERENCE §7.1), else `vocab.txt`, plus the settings, special tokens
        and added tokens of `tokenizer_config.json`, `special_tokens_map.json` and `added_tokens.json` when
        present (see tokenizer_files.py). Keyword arguments override the files.

        The official SqueezeBERT repos have no `tokenizer_config.json`, so they get our defaults, including
        `model_max_length=512` (transformers v5 would use int(1e30) and never truncate; see the class docstring).
        """
        from . import tokenizer_files
        from .hub import cached_file  # lazily: only loading needs the hub

        if subfolder is not None and (not isinstance(subfolder, str) or not subfolder.strip("/")):
            raise TokenizerError(f"subfolder must be a non-empty folder name, got {subfolder!r:.60}")
        prefix = "" if subfolder is None else subfolder.strip("/") + "/"

        def fetch(name):
            return cached_file(path_or_repo_id, prefix + name, revision=revision, cache_dir=cache_dir,
                               local_files_only=local_files_only, token=token, missing_ok=True)

        settings = tokenizer_files.read_settings(fetch)
        if "vocab_file" in kwargs or "vocab" in kwargs:
            settings.pop("vocab_file", None)
            settings.pop("vocab", None)
        elif "vocab_file" not in settings and "vocab" not in settings:
            raise TokenizerError(f"{os.fspath(path_or_repo_id)}{'/' + prefix if prefix else ''} has neither "
                                 f"{tokenizer_files.VOCAB_FILE} nor {tokenizer_files.TOKENIZER_FILE}")
        settings.update(kwargs)
        settings.setdefault("name_or_path", os.fspath(path_or_repo_id))
        return cls(**settings)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        """Write the vocabulary as `vocab.txt` (one token per line, in id order); returns (path,)."""
        from .checkpoint.safetensors_io import make_folder
        from .tokenizer_files import VOCAB_FILE, write_atomic

        make_folder(save_directory)
        name = (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE
        path = os.path.join(save_directory, name)
        write_atomic(path, "".join(token + "\n" for token in self.ids_to_tokens))
        return (path,)

    def save_pretrained(self, save_directory):
        """Write `vocab.txt` and `tokenizer_config.json` (settings, special and added tokens) so that this class
        and transformers both load them back with the same ids."""
        from .tokenizer_files import TOKENIZER_CONFIG_FILE, tokenizer_config, write_atomic

        (vocab_path,) = self.save_vocabulary(save_directory)
        config_path = os.path.join(save_directory, TOKENIZER_CONFIG_FILE)
        write_atomic(config_path, json.dumps(tokenizer_config(self), indent=2, ensure_ascii=False) + "\n")
        return config_path, vocab_path


# ---------------------------------------------------------------------------------------------------------------
# small helpers

def _check_init_kwargs(kwargs, merges):
    """Refuse the constructor keywords we cannot honour, with what is wrong (transformers stores any keyword)."""
    if merges not in (None, []):
        raise TokenizerError("merges= is for BPE tokenizers; BERT's WordPiece tokenizer has none")
    for key, value in kwargs.items():
        if key in IGNORED_INIT_KWARGS:
            continue
        if key == "model_input_names" and list(value) == TokenizerBase.model_input_names:
            continue
        if key == "split_special_tokens" and value is False:
            continue
        raise TokenizerError(f"unknown or unsupported tokenizer setting {key}={value!r:.60}")


def _saved_added_tokens(added_tokens_decoder):
    """[(id, AddedToken)] by id from an `added_tokens_decoder` ({id or "id": AddedToken or its dict})."""
    if added_tokens_decoder is None:
        return []
    if not isinstance(added_tokens_decoder, dict):
        raise TokenizerError(f"added_tokens_decoder must map ids to added tokens, got {added_tokens_decoder!r:.60}")
    if len(added_tokens_decoder) > MAX_ADDED_TOKENS:
        raise TokenizerError(f"at most {MAX_ADDED_TOKENS} added tokens are supported")
    saved = []
    for key, value in added_tokens_decoder.items():
        index = key if _is_id(key) else int(key) if isinstance(key, str) and key.isascii() and key.isdigit() \
            and len(key) < 20 else None
        if index is None:
            raise TokenizerError(f"added_tokens_decoder keys must be token ids, got {key!r:.40}")
        saved.append((index, AddedToken.of(value)))
    return sorted(saved, key=lambda pair: pair[0])


def _check_side(side, name):
    if side not in SIDES:
        raise TokenizerError(f"{name} must be 'right' or 'left', got {side!r}")


def _check_decode_flags(skip_special_tokens, clean_up_tokenization_spaces):
    return (_check_flag(skip_special_tokens, "skip_special_tokens"),
            _check_flag(clean_up_tokenization_spaces, "clean_up_tokenization_spaces", allow_none=True))


def _input_ids_of(token_ids):
    """The "input_ids" of a BatchEncoding or dict (decode(tok(text)) works in transformers v5); else unchanged."""
    if not isinstance(token_ids, dict):
        return token_ids
    if "input_ids" not in token_ids:
        raise TokenizerError(f"a dict of token ids needs an 'input_ids' entry (it has {', '.join(token_ids)})")
    return token_ids["input_ids"]


def _is_id(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _as_python(x):
    """Arrays, NumPy scalars and torch tensors -> Python ints or (nested) lists, through their `.tolist()`.

    Duck-typed, so torch needs no import here (a torch dtype has no NumPy `.kind`; only NumPy's is checked, to
    name a float array as such).
    """
    if isinstance(x, (list, tuple)) or not hasattr(x, "tolist"):
        return x
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    if kind is not None and kind not in "iu":
        raise TokenizerError(f"expected an integer array of token ids, got dtype {x.dtype}")
    return x.tolist()


def _ids_and_rank(token_ids):
    """Token ids in any accepted form -> (ids, rank): an int (rank 0), a list of ints (1), or a list of lists of
    ints (2). Items may themselves be NumPy or torch scalars or 1-D arrays; bools and floats are refused."""
    value = _as_python(token_ids)
    if _is_id(value):
        return value, 0
    if isinstance(value, (list, tuple)):
        items = [_as_python(x) for x in value]
        if all(_is_id(x) for x in items):
            return items, 1
        if all(isinstance(x, (list, tuple)) for x in items):
            rows = [[_as_python(i) for i in row] for row in items]
            if all(_is_id(i) for row in rows for i in row):
                return rows, 2
    raise TokenizerError(f"expected token ids (an int, a list of ints, or a list of such lists), "
                         f"got {token_ids!r:.80}")


def _check_padded_size(rows, target):
    """Refuse padding that would build more than MAX_PADDED_TOKENS tokens (before building anything)."""
    if rows * target > MAX_PADDED_TOKENS:
        raise TokenizerError(f"padding {rows} row(s) to length {target} would make {rows * target} tokens, more "
                             f"than the {MAX_PADDED_TOKENS} allowed: check max_length and pad_to_multiple_of")


def _pad(row, target, fill, side):
    missing = target - len(row)
    if missing <= 0:
        return row
    return row + [fill] * missing if side == "right" else [fill] * missing + row


def _to_array(key, rows):
    """int64 array of a field: [batch] for length and overflow_to_sample_mapping, [batch, length] for the others
    ([batch, length, 2] for offsets). Rows of unequal length are an error (transformers makes object arrays)."""
    import numpy as np

    if key in ("length", "overflow_to_sample_mapping"):
        return np.array(rows, dtype=np.int64)
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        raise TokenizerError(f"return_tensors='np' needs equal lengths but {key} rows have lengths "
                             f"{sorted(lengths)}: pass padding=True (or padding='max_length')")
    shape = (len(rows), lengths.pop() if lengths else 0) + ((2,) if key == "offset_mapping" else ())
    return np.array(rows, dtype=np.int64).reshape(shape)

