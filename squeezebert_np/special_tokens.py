"""Special tokens and added tokens: the part of transformers' tokenizer API that fine-tuning scripts touch first.

    tok.add_tokens(["covid", AddedToken("<ent>", lstrip=True)])      # new words -> ids 30522, 30523
    tok.add_special_tokens({"extra_special_tokens": ["<q>"]})         # never split, skipped by decode(skip...)
    model.resize_token_embeddings(len(tok))                           # then make room for them in the model

As in transformers 5.24: the named special tokens are bos, eos (None for BERT), unk, sep, pad, cls and mask; each
`x_token` and `x_token_id` can be read and set (setting one only renames it: like transformers, the [CLS] ... [SEP]
template and WordPiece's unknown token keep the ids the tokenizer was built with, until it is saved and loaded
again). `extra_special_tokens` (old name: `additional_special_tokens`) lists the others. The matching of added
tokens in text is `added_tokens.py`.
"""
from .added_tokens import AddedToken
from .errors import TokenizerError

SPECIAL_TOKENS_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                             "mask_token")


def _special_token_property(name):
    def get(self):
        value = self._special_tokens_map.get(name)
        return None if value is None else str(value)

    def set_(self, value):
        if value is not None and not isinstance(value, (str, AddedToken)) and not hasattr(value, "content"):
            raise TokenizerError(f"{name} must be a string or an AddedToken, got {value!r:.40}")
        self._special_tokens_map[name] = value

    return property(get, set_, doc=f"The {name.replace('_', ' ')} as a string (None if the tokenizer has none).")


def _special_token_id_property(name):
    def get(self):
        token = getattr(self, name)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set_(self, value):
        setattr(self, name, None if value is None else self.convert_ids_to_tokens(value))

    return property(get, set_, doc=f"The id of the {name.replace('_', ' ')} (None if the tokenizer has none).")


class SpecialTokensMixin:
    """Named and extra special tokens, added tokens; needs `self._added` (an AddedVocabulary), `self.vocab`, and
    the tokenizer's `convert_tokens_to_ids` / `convert_ids_to_tokens`."""

    @property
    def extra_special_tokens(self):
        """The special tokens that have no name (transformers v5's `extra_special_tokens`)."""
        return [str(token) for token in self._extra_special_tokens]

    @extra_special_tokens.setter
    def extra_special_tokens(self, tokens):
        self._extra_special_tokens = _token_list(tokens, "extra_special_tokens")

    @property
    def extra_special_tokens_ids(self):
        return self.convert_tokens_to_ids(self.extra_special_tokens)

    additional_special_tokens = extra_special_tokens          # the v4 name
    additional_special_tokens_ids = extra_special_tokens_ids

    @property
    def special_tokens_map(self):
        """{name: token} of the named special tokens that are set."""
        return {name: getattr(self, name) for name in SPECIAL_TOKENS_ATTRIBUTES if getattr(self, name) is not None}

    @property
    def all_special_tokens(self):
        """Named then extra special tokens, each once: [UNK] [SEP] [PAD] [CLS] [MASK] (+ extras) for BERT."""
        tokens = list(self.special_tokens_map.values()) + self.extra_special_tokens
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self):
        return self.convert_tokens_to_ids(self.all_special_tokens)

    # ---- added tokens ----

    @property
    def added_tokens_decoder(self):
        """{id: AddedToken} of every added token, the five special tokens included, by id."""
        return {i: AddedToken.of(token) for i, token in sorted(self._added.decoder.items())}

    @property
    def added_tokens_encoder(self):
        """{content: id} of every added token, by id."""
        return {token.content: i for i, token in sorted(self._added.decoder.items())}

    def get_added_vocab(self):
        return self.added_tokens_encoder

    def add_tokens(self, new_tokens, special_tokens=False):
        """Add tokens (strings or AddedTokens); returns how many were new or changed. A token already in the
        vocabulary keeps its id, a new one gets the next free id (resize the model's embeddings to `len(tok)`).
        With `special_tokens=True` they become special tokens (skipped by decode; strings are not normalised)."""
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        if not isinstance(special_tokens, bool):
            raise TokenizerError(f"special_tokens must be True or False, got {special_tokens!r}")
        tokens = [AddedToken.of(token, special=special_tokens) for token in new_tokens]
        if special_tokens:  # as the Rust binding's add_special_tokens does, whatever the token said
            for token in tokens:
                token.special = True
        return self._added.add(tokens)

    def add_special_tokens(self, special_tokens_dict, replace_extra_special_tokens=True):
        """Set named special tokens ({"pad_token": "<pad>"}) and/or the extra ones ({"extra_special_tokens":
        [...]}, or the old key "additional_special_tokens"), adding those not yet in the vocabulary. Returns how
        many tokens were added. The extra list is replaced, or extended with replace_extra_special_tokens=False."""
        if not special_tokens_dict:
            return 0
        if not isinstance(special_tokens_dict, dict):
            raise TokenizerError(f"add_special_tokens takes a dict, not {type(special_tokens_dict).__name__}")
        special_tokens_dict = dict(special_tokens_dict)
        if "additional_special_tokens" in special_tokens_dict and not special_tokens_dict.get("extra_special_tokens"):
            special_tokens_dict["extra_special_tokens"] = special_tokens_dict.pop("additional_special_tokens")
        to_add = []
        for key, value in special_tokens_dict.items():
            if key == "extra_special_tokens":
                new = [_as_special(t) for t in _token_list(value, key)
                       if replace_extra_special_tokens or str(t) not in self.extra_special_tokens]
                if replace_extra_special_tokens and new:
                    self._extra_special_tokens = list(new)
                else:
                    self._extra_special_tokens += new
                to_add += new
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                if not isinstance(value, (str, AddedToken)) and not hasattr(value, "content"):
                    raise TokenizerError(f"{key} must be a string or an AddedToken, got {value!r:.40}")
                value = _as_special(value)
                setattr(self, key, value)
                to_add.append(value)
            else:
                allowed = ", ".join((*SPECIAL_TOKENS_ATTRIBUTES, "extra_special_tokens"))
                raise TokenizerError(f"{key!r} is not a special token name (allowed: {allowed})")
        return self.add_tokens(to_add, special_tokens=True)


for _name in SPECIAL_TOKENS_ATTRIBUTES:  # bos_token, bos_token_id, eos_token, ...: properties
    setattr(SpecialTokensMixin, _name, _special_token_property(_name))
    setattr(SpecialTokensMixin, _name + "_id", _special_token_id_property(_name))
del _name


def _as_special(token):
    """A string becomes a special, non-normalised AddedToken (transformers' add_special_tokens)."""
    if isinstance(token, str):
        return AddedToken(token, normalized=False, special=True)
    return AddedToken.of(token)


def _token_list(tokens, name):
    if tokens is None:
        return []
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) or hasattr(t, "content")
                                                        for t in tokens):
        raise TokenizerError(f"{name} must be a list of strings or AddedTokens, got {tokens!r:.60}")
    return list(tokens)
