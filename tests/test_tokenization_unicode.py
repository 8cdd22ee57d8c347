"""Every code point: our character rules (Python's unicodedata + data/rust-unicode-exceptions.txt) against the Rust
tokenizer's BertNormalizer and BertPreTokenizer (tokenizers, REFERENCE.md §7.3 and §7.7 rows 1-5).

The exceptions table is checked twice: end to end (normalising and splitting each of the 1.1M code points as Rust
does proves that no entry needed by this Python is missing), and entry by entry (each stored answer is Rust's).
"""
import importlib.util
import pathlib
import unicodedata

import pytest

from squeezebert_np.tokenization import (RUST_UNICODE, BasicTokenizer, is_control, is_punctuation, is_whitespace,
                                         decompose, is_nonspacing_mark, lower)

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import normalizers, pre_tokenizers  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_unicode_exceptions", ROOT / "tools" / "make_unicode_exceptions.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

CODE_POINTS = tool.all_code_points()  # all but the surrogates, which a Rust string cannot hold
SEP = "\u2603"  # a character every rule leaves alone


def our_normalized(basic):
    """{cp: normalised} for the code points our BasicTokenizer changes, normalising 4096 at a time."""
    changed = {}
    for i in range(0, len(CODE_POINTS), 4096):
        part = [cp for cp in CODE_POINTS[i:i + 4096] if cp != ord(SEP)]
        pieces = basic.normalize(SEP.join(map(chr, part))).split(SEP)
        assert len(pieces) == len(part)
        changed.update((cp, p) for cp, p in zip(part, pieces) if p != chr(cp))
    return changed


def first_differences(ours, theirs, limit=10):
    keys = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    return [(f"U+{k:04X}", unicodedata.name(chr(k), "?"), ours.get(k), theirs.get(k)) for k in keys[:limit]]


def test_every_code_point_normalizes_like_rust():
    """Clean text, CJK spacing, accent stripping and lower-casing (the uncased setting of the official repos),
    one code point at a time. This is what proves that the table misses nothing for this Python."""
    theirs = tool._map_chunks(normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                         strip_accents=None, lowercase=True), CODE_POINTS)
    assert first_differences(our_normalized(BasicTokenizer()), theirs) == []


def test_every_code_point_splits_words_like_rust():
    """Which characters BertPreTokenizer treats as whitespace and which as punctuation."""
    space, punct = tool._boundary_classes(CODE_POINTS)
    assert [f"U+{cp:04X}" for cp in CODE_POINTS if is_whitespace(chr(cp)) != (cp in space)] == []
    assert [f"U+{cp:04X}" for cp in CODE_POINTS if is_punctuation(chr(cp)) != (cp in punct)] == []


def test_every_code_point_lowercases_like_rust():
    """Lower-casing alone (do_lower_case=True, strip_accents=False lower-cases characters NFD never touched)."""
    theirs = tool._map_chunks(normalizers.Lowercase(), CODE_POINTS)
    assert [f"U+{cp:04X}" for cp in CODE_POINTS if lower(chr(cp)) != theirs.get(cp, chr(cp))] == []


def test_each_table_entry_is_rusts_answer():
    """Every stored answer is what tokenizers answers for that code point, whatever this Python's Unicode says
    (entries made for other Python versions included). `tools/make_unicode_exceptions.py --check` does this and
    the coverage check from scratch."""
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                       lowercase=False)
    pre = pre_tokenizers.BertPreTokenizer()

    def boundary(ch):
        return [p for p, _ in pre.pre_tokenize_str("a" + ch + "a")]

    rust = {
        "control": lambda ch: clean.normalize_str(ch) == "",
        "whitespace": lambda ch: boundary(ch) == ["a", "a"],
        "punctuation": lambda ch: boundary(ch) == ["a", ch, "a"],
        "mark": lambda ch: strip.normalize_str(ch) == "",
        "nfd": normalizers.NFD().normalize_str,
        "lower": normalizers.Lowercase().normalize_str,
    }
    assert sum(map(len, RUST_UNICODE.values())) > 600
    wrong = [(name, f"U+{ord(ch):04X}", answer) for name, entries in RUST_UNICODE.items()
             for ch, answer in entries.items() if rust[name](ch) != answer]
    assert wrong == []


def test_known_rust_answers():
    """A few rows of REFERENCE §7.7 spelled out (and the reason the table exists)."""
    assert not is_control("\u0378")                # row 1: unassigned, kept by Rust (Python BERT drops it)
    assert BasicTokenizer().normalize("\U0002B820") == "\U0002B820"  # row 2: not in Rust's CJK ranges
    assert BasicTokenizer().normalize("\u4E00") == " \u4E00 "
    assert not is_punctuation("\u061D")            # row 3: U+061D is Po only since Unicode 14
    assert is_control("\u200B") and is_control("\uFEFF") and is_control("\u00AD")  # Cf: zero-width, BOM, soft hyphen
    assert lower("Σ") == "σ" and BasicTokenizer().normalize("ΟΔΟΣ") == "οδοσ"  # row 4: no final sigma
    assert decompose("\U00011938") == "\U00011938"  # Rust's NFD tables predate this decomposition
    assert is_nonspacing_mark("\u0301") and is_nonspacing_mark("\u1734")  # U+1734: Mn in Rust's (pre-14) table
    assert lower("\u1C89") == "\u1C8A"               # Unicode 16 lower case, which Rust's std knows


def test_canonical_reordering_as_rust(slow, fast):
    """NFD sorts a run of combining marks by combining class; after accent stripping a few non-Mn marks survive
    (Hangul tone marks U+302E/F, musical symbols U+1D165-U+1D172), so the order, and Rust's positional alignment of
    the sorted run, show in the normalised text and in the offsets (issue 15: we said [(0, 2)], Rust [(0, 3)])."""
    rust = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    for text in ("a\u302e\U0001d165", "a\U0001d165\u0327", "xa\U0001D165\u0327\u0301b c", "e\u0301\u0327 ok"):
        assert BasicTokenizer().normalize(text) == rust.normalize_str(text)
        assert BasicTokenizer().normalize_aligned(text)[0] == rust.normalize_str(text)
    assert BasicTokenizer().normalize("a\u302e\U0001d165") == "a\U0001d165\u302e"
    out = fast("a\U0001D165\u0327", add_special_tokens=False, return_offsets_mapping=True)
    assert out["offset_mapping"] == [(0, 3)]
    assert slow("ab\U0001D165\u0327 c", add_special_tokens=False)["input_ids"] == \
        fast("ab\U0001D165\u0327 c", add_special_tokens=False)["input_ids"]
