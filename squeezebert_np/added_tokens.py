"""Added tokens: tokens put on top of the WordPiece vocabulary, matched in the text before WordPiece runs.

This is the Rust tokenizer's `AddedVocabulary` (tokenizers/src/tokenizer/added_vocabulary.rs), which transformers
uses for `add_tokens` / `add_special_tokens` and for [CLS], [SEP], [PAD], [UNK], [MASK] themselves:

- A token already in the vocabulary keeps its id; a new one gets the next id after the vocabulary (or after the
  highest added id). `tok.add_tokens(["covid"])` -> 30522 with BERT's vocabulary.
- Matching happens in two passes, leftmost-longest (at each position the longest token wins):
  1. tokens with `normalized=False` (all special tokens, by default) are found in the raw text, case-sensitively;
  2. tokens with `normalized=True` (the default for `add_tokens`) are found in the normalised text (lower-cased,
     accents stripped...) of what pass 1 left, so "COVID" matches an added "covid".
  Text between matches is tokenized as usual.
- Per token: `single_word` only matches where no word character (\\w) touches it on either side; `lstrip` /
  `rstrip` swallow the whitespace on that side into the match; `special` tokens are skipped by
  `decode(skip_special_tokens=True)`. Decoding (and `convert_ids_to_tokens`) shows a normalized token in its
  normalised form, as Rust does: an added "Covid" decodes as "covid".

Example: tok.add_tokens([AddedToken("<ent>", lstrip=True)]); tok.tokenize("a <ent>b") -> ['a', '<ent>', 'b']
"""
import re

import regex

from .errors import TokenizerError

_WORD_CHAR = regex.compile(r"\w")   # Unicode word characters, as Rust's regex \w (letters, marks, digits, _)
_TRAILING_SPACE = regex.compile(r"\s*\Z")
_LEADING_SPACE = regex.compile(r"\s*")     # (used with .match at a position)
_FLAGS = ("single_word", "lstrip", "rstrip", "normalized", "special")
# bounds on what a file or a call can make us build (adding 65,536 tokens of 12 characters takes ~5 s)
MAX_ADDED_TOKENS = 1 << 16
MAX_ADDED_TOKEN_LENGTH = 1 << 10
MAX_TRIE_DEPTH = 100  # branching points on one path of the trie regex; deeper sets use a flat alternation


class AddedToken:
    """One added token and how it matches, as `tokenizers.AddedToken` (same fields and defaults: `normalized`
    defaults to `not special`). `str(token)` is its content."""

    __slots__ = ("content", *_FLAGS)

    def __init__(self, content, single_word=False, lstrip=False, rstrip=False, normalized=None, special=False):
        if not isinstance(content, str):
            raise TokenizerError(f"an added token must be a string, got {content!r:.40}")
        if len(content) > MAX_ADDED_TOKEN_LENGTH:
            raise TokenizerError(f"an added token may have at most {MAX_ADDED_TOKEN_LENGTH} characters, "
                                 f"got {len(content)}")
        for name, value in (("single_word", single_word), ("lstrip", lstrip), ("rstrip", rstrip),
                            ("special", special), ("normalized", normalized)):
            if not (isinstance(value, bool) or (name == "normalized" and value is None)):
                raise TokenizerError(f"added token {content!r:.40}: {name} must be True or False, got {value!r:.40}")
        self.content, self.single_word, self.lstrip, self.rstrip = content, single_word, lstrip, rstrip
        self.special = special
        self.normalized = (not special) if normalized is None else normalized

    @classmethod
    def of(cls, value, special=False):
        """An AddedToken from a string (special or not, normalised unless special), from a `tokenizers.AddedToken`
        or one of ours (copied, its flags kept), or from the dict a tokenizer file stores."""
        if isinstance(value, str):
            return cls(value, special=special, normalized=not special)
        if isinstance(value, dict):
            unknown = set(value) - {"content", "id", "__type", *_FLAGS}
            if "content" not in value or unknown:
                raise TokenizerError(f"an added token entry needs 'content' and only the fields "
                                     f"{', '.join(_FLAGS)}, got {value!r:.80}")
            flags = {name: value[name] for name in _FLAGS if name in value}
            return cls(value["content"], **flags)
        if all(hasattr(value, name) for name in ("content", *_FLAGS)):  # tokenizers.AddedToken, or ours
            return cls(value.content, **{name: getattr(value, name) for name in _FLAGS})
        raise TokenizerError(f"an added token must be a string or an AddedToken, got {type(value).__name__}")

    def as_dict(self):
        """The form tokenizer_config.json's `added_tokens_decoder` stores (transformers' AddedToken.__getstate__)."""
        return {"content": self.content, **{name: getattr(self, name) for name in _FLAGS}}

    def __str__(self):
        return self.content

    def __repr__(self):
        return (f'AddedToken("{self.content}", rstrip={self.rstrip}, lstrip={self.lstrip}, '
                f"single_word={self.single_word}, normalized={self.normalized}, special={self.special})")

    def __eq__(self, other):
        if isinstance(other, str):
            return False
        return all(getattr(self, n, None) == getattr(other, n, None) for n in ("content", *_FLAGS))

    def __hash__(self):
        return hash(self.content)


class AddedVocabulary:
    """The added tokens of one tokenizer: content <-> id, and the two matchers (raw text, normalised text)."""

    def __init__(self, vocab, normalize):
        self.vocab = vocab            # the WordPiece vocabulary (token -> id), read only
        self.normalize = normalize    # text -> normalised text, for the patterns of normalized tokens
        self.encoder = {}             # content -> id
        self.decoder = {}             # id -> AddedToken
        self.special_contents = set()
        self._specials, self._others = {}, {}   # content -> AddedToken, in the order first added; the matchers
        #                                        try the special ones first (Rust's order)
        self._highest = None          # the highest added id
        self._known = set()           # the decoder's tokens as (content, flags): re-adding one is ignored
        self._matchers = (None, None)  # (raw, normalized), rebuilt on first use after tokens were added
        self._stale = False
        self._normalized_content = {}  # content -> its normalised form (normalised once per token)
        self.surface = {}             # id -> what decoding shows: the normalised content of a normalized token

    def __len__(self):
        return len(self.encoder)

    def token_to_id(self, content):
        found = self.encoder.get(content)
        return found if found is not None else self.vocab.get(content)

    def add(self, tokens):
        """Add AddedTokens (Rust's `add_tokens`); returns how many were not already there unchanged."""
        if len(self.encoder) + len(tokens) > MAX_ADDED_TOKENS:
            raise TokenizerError(f"at most {MAX_ADDED_TOKENS} added tokens are supported")
        for token in tokens:
            if token.special and token.content and token.content not in self.special_contents:
                self._specials[token.content] = token
                self.special_contents.add(token.content)
        ignored = 0
        for token in tokens:
            key = _key(token)
            if not token.content or key in self._known:
                ignored += 1
                continue
            self._known.add(key)
            new_id = self.token_to_id(token.content)
            if new_id is None:
                highest = self._highest
                new_id = len(self.vocab) if highest is None or highest < len(self.vocab) else highest + 1
            self._highest = new_id if self._highest is None else max(self._highest, new_id)
            self.encoder[token.content] = new_id
            if new_id in self.decoder:
                self._known.discard(_key(self.decoder[new_id]))
            self.decoder[new_id] = token
            if token.normalized:  # (once normalised, it stays so when re-added with other flags, as in Rust)
                self.surface[new_id] = self._normalized(token.content)
            else:
                self.surface.setdefault(new_id, token.content)
            if token.content in self.special_contents:
                self._specials[token.content] = token
            else:
                self._others[token.content] = token  # a token added again with other flags keeps its place
        self._stale = True  # rebuilt when next used: adding tokens one call at a time stays linear
        return len(tokens) - ignored

    @property
    def raw_matcher(self):
        """The matcher of the normalized=False tokens (see `find`), or None."""
        return self._current_matchers()[0]

    @property
    def normalized_matcher(self):
        """The matcher of the normalized=True tokens, on normalised text, or None."""
        return self._current_matchers()[1]

    def _current_matchers(self):
        if self._stale:
            self._refresh()
            self._stale = False
        return self._matchers

    def _normalized(self, content):
        found = self._normalized_content.get(content)
        if found is None:
            found = self._normalized_content[content] = self.normalize(content)
        return found

    def _refresh(self):
        """Rebuild the two matchers, each (a regex finding the longest pattern at the leftmost position, pattern
        -> id); a pattern shared by two tokens ("covid", "COVID" once normalised) goes to the first added."""
        raw, normalized = {}, {}
        for token in [*self._specials.values(), *self._others.values()]:
            target = normalized if token.normalized else raw
            pattern = self._normalized(token.content) if token.normalized else token.content
            if pattern:  # an empty pattern (a token that normalises to nothing) can never be matched
                target.setdefault(pattern, self.token_to_id(token.content))
        self._matchers = (_matcher(raw), _matcher(normalized))

    def find(self, text, matcher):
        """Rust's `find_matches`: [(start, end, id or None)] pieces tiling `text`; a match that breaks
        `single_word` is skipped, `lstrip` / `rstrip` extend a match over the whitespace on that side."""
        if matcher is None or not text:
            return [(0, len(text), None)]
        pattern, ids = matcher
        pieces, position = [], 0
        for match in pattern.finditer(text):
            start, stop = match.span()
            token_id = ids[match.group()]
            token = self.decoder[token_id]
            if token.single_word and ((start > 0 and _WORD_CHAR.match(text, start - 1))
                                      or (stop < len(text) and _WORD_CHAR.match(text, stop))):
                continue
            if token.lstrip:
                start = max(_TRAILING_SPACE.search(text, position, start).start(), position)
            if token.rstrip:
                stop = _LEADING_SPACE.match(text, stop).end()
            if position < start:
                pieces.append((position, start, None))
            pieces.append((start, stop, token_id))
            position = stop
        if position < len(text):
            pieces.append((position, len(text), None))
        return pieces


def _key(token):
    return (token.content, *(getattr(token, name) for name in _FLAGS))


def _matcher(patterns):
    """(a compiled regex that finds the longest pattern at the leftmost position, pattern -> id)."""
    if not patterns:
        return None
    try:
        return re.compile(trie_regex(patterns)), patterns
    except (RecursionError, re.error):  # a trie too deep for Python's regex compiler: one flat alternation
        alternatives = sorted(patterns, key=len, reverse=True)  # at a position, the longest is tried first
        return re.compile("|".join(map(re.escape, alternatives))), patterns


def trie_regex(patterns):
    """A regex matching the longest of `patterns` at a position, written as a trie: shared prefixes are matched
    once, so matching costs time in proportion to the text, not to the number of patterns (a flat alternation of
    30,000 added tokens is tried one by one at every position). Greedy `?` makes it prefer the longer pattern.
    Example: ["a", "abc", "abd"] -> "a(?:b(?:c|d))?"."""
    root = {}
    for pattern in patterns:
        node = root
        for ch in pattern:
            node = node.setdefault(ch, {})
        node[""] = {}  # a pattern ends here
    return _node_regex(root)


def _node_regex(node, depth=0):
    if depth > MAX_TRIE_DEPTH:
        raise RecursionError("added tokens nest too deeply for a trie regex")
    branches = []
    for ch, child in node.items():
        if not ch:
            continue
        literal = ch
        while len(child) == 1 and "" not in child:  # a chain of single children: one literal
            (next_ch, child), = child.items()
            literal += next_ch
        branches.append(re.escape(literal) + _node_regex(child, depth + 1))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body
