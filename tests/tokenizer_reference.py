"""The independent references the tokenizer tests compare against (imported by tests/test_tokeniz*.py).

- `rust_tokenizer(vocab)`: the `tokenizers` library assembled exactly as transformers 5.24's `BertTokenizer`
  assembles it (REFERENCE.md §7.1): WordPiece(unk [UNK], max 100 chars), BertNormalizer(clean_text,
  handle_chinese_chars, strip_accents=None, lowercase), BertPreTokenizer, the [CLS]/[SEP] template, the five
  special tokens as added tokens, the WordPiece decoder.
- `transformers_tokenizer(directory)`: transformers' own `BertTokenizer.from_pretrained` (what `AutoTokenizer`
  returns for the SqueezeBERT repos), with model_max_length=512 so that its defaults match ours.
- `legacy_tokenizer(vocab_file)`: transformers' pure-Python `BertTokenizerLegacy`, for the slow-path quirks.
- `call_both(ours, hf, args, options)`: the same call to one of ours and to transformers, refusals compared.
"""
import pytest

from squeezebert_np.errors import TokenizerError

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def read_vocab(path):
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n"): i for i, line in enumerate(f)}


def rust_tokenizer(vocab, lowercase=True):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    tok = tokenizers.Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.add_special_tokens([tokenizers.AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def transformers_tokenizer(directory, **kwargs):
    transformers = pytest.importorskip("transformers")
    kwargs.setdefault("model_max_length", 512)
    return transformers.BertTokenizer.from_pretrained(str(directory), **kwargs)


def legacy_tokenizer(vocab_file):
    pytest.importorskip("transformers")
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    return BertTokenizerLegacy(vocab_file=str(vocab_file))


def rust_fields(encodings):
    """The Rust encodings as our BatchEncoding fields (batched lists)."""
    return {"input_ids": [e.ids for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "special_tokens_mask": [e.special_tokens_mask for e in encodings],
            "offset_mapping": [e.offsets for e in encodings]}


def plain(value):
    """Arrays and tuples -> nested lists, so that outputs compare with ==."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def call_both(ours, hf, args, options, our_options=None):
    """(our output, transformers' output) of the same call (`our_options` if ours takes other options); when
    transformers refuses the input, ours must raise a TokenizerError, and the answer is (None, None)."""
    our_options = options if our_options is None else our_options
    try:
        theirs = hf(*args, **options)
    except BaseException as e:  # Rust errors arrive as Exception, Rust panics as pyo3's PanicException
        if not isinstance(e, Exception) and type(e).__name__ != "PanicException":
            raise
        with pytest.raises(TokenizerError):
            ours(*args, **our_options)
        return None, None
    return ours(*args, **our_options), theirs
