"""Generate (or check) squeezebert_np/data/rust-unicode-exceptions.txt.

The Rust `tokenizers` library answers six Unicode questions from tables compiled into it, which are older (or, for
lower-casing, newer) than the `unicodedata` of a given Python. squeezebert_np asks Python and overrides the answer
with the table wherever Rust disagrees (REFERENCE.md §7.7 row 3):

    control      is the character dropped by text cleaning?        Python: category Cc, Cf, Co or Cs
    whitespace   is it a word boundary?                             Python: str.isspace()
    punctuation  is it split off on its own?                        Python: ASCII punctuation or category P*
    mark         is it dropped by accent stripping?                 Python: category Mn
    nfd          its canonical decomposition                        Python: unicodedata.normalize("NFD", ch)
    lower        its lower case                                     Python: ch.lower()

The Python rules are the fallbacks in squeezebert_np/tokenization.py, restated below (RULES) so that they can run
under other Python versions without the package. The table stores Rust's answer for every code point where some
listed Python disagrees, so one file serves them all:

    python tools/make_unicode_exceptions.py --python ~/.pyenv/versions/3.10.13/bin/python \\
        --python ~/.pyenv/versions/3.12.1/bin/python --python ~/.pyenv/versions/3.13.0/bin/python
    python tools/make_unicode_exceptions.py --check      # this Python only; exit 1 on a problem

Needs the pinned `tokenizers` (0.23.3) in the running interpreter; the other interpreters need only the stdlib.
"""
import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE = ROOT / "squeezebert_np" / "data" / "rust-unicode-exceptions.txt"
YES_NO = ("control", "whitespace", "punctuation", "mark")
MAPPINGS = ("nfd", "lower")
SURROGATES = range(0xD800, 0xE000)  # Rust strings cannot hold them: nothing to compare

# The Python rules, run with `python -c`. Prints {"unicode": version, property: answers}, where a yes/no property
# lists the code points answered "yes" and a mapping lists {code point: result} where the result is not ch itself.
RULES = r"""
import json, sys, unicodedata
out = {"unicode": unicodedata.unidata_version, "control": [], "whitespace": [], "punctuation": [], "mark": [],
       "nfd": {}, "lower": {}}
for cp in range(0x110000):
    if 0xD800 <= cp < 0xE000:
        continue
    ch = chr(cp)
    cat = unicodedata.category(ch)
    if ch not in "\t\n\r" and cat in ("Cc", "Cf", "Co", "Cs"):
        out["control"].append(cp)
    if ch.isspace():
        out["whitespace"].append(cp)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or cat.startswith("P"):
        out["punctuation"].append(cp)
    if cat == "Mn":
        out["mark"].append(cp)
    for name, result in (("nfd", unicodedata.normalize("NFD", ch)), ("lower", ch.lower())):
        if result != ch:
            out[name][cp] = result
json.dump(out, sys.stdout)
"""


def python_answers(python=sys.executable):
    """Run RULES under `python`: (answers, unicode version). Answers are compact: for a yes/no property the set of
    code points answered "yes", for a mapping {code point: result} where the result is not the character itself."""
    result = subprocess.run([python, "-c", RULES], capture_output=True, text=True, check=True)
    raw = json.loads(result.stdout)
    answers = {name: set(raw[name]) - MOOT.get(name, set()) for name in YES_NO}
    answers.update({name: {int(cp): s for cp, s in raw[name].items()} for name in MAPPINGS})
    return answers, raw["unicode"]


# NUL and U+FFFD are always dropped and tab/newline/CR never are, so whether they count as "control" is moot
MOOT = {"control": set(map(ord, "\0\ufffd\t\n\r"))}


def all_code_points():
    return [cp for cp in range(0x110000) if cp not in SURROGATES]


def _map_chunks(normalizer, cps, chunk=4096):
    """normalizer.normalize_str of each character, batched (characters joined by a separator that is checked not
    to be produced, then split again); only the characters it changes: {cp: result}."""
    out = {}
    sep = "\u2603"
    for i in range(0, len(cps), chunk):
        part = [cp for cp in cps[i:i + chunk] if chr(cp) != sep]
        pieces = normalizer.normalize_str(sep.join(map(chr, part))).split(sep)
        if len(pieces) != len(part):  # a character produced the separator: do this batch one by one
            pieces = [normalizer.normalize_str(chr(cp)) for cp in part]
        out.update((cp, piece) for cp, piece in zip(part, pieces) if piece != chr(cp))
    if normalizer.normalize_str(sep) != sep:
        out[ord(sep)] = normalizer.normalize_str(sep)
    return out


def _boundary_classes(cps, chunk=4096):
    """How BertPreTokenizer treats each code point between two letters: (set of those that split and vanish,
    i.e. whitespace; set of those that become a token of their own, i.e. punctuation). Others join the letters."""
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.BertPreTokenizer()
    space, punct = set(), set()
    for i in range(0, len(cps), chunk):
        part = cps[i:i + chunk]
        text = "a" + "a".join(map(chr, part)) + "a"  # character k sits at position 2k+1
        covered, alone = set(), set()
        for _, (start, end) in pre.pre_tokenize_str(text):
            covered.update(range(start, end))
            if end == start + 1:
                alone.add(start)
        for k, cp in enumerate(part):
            pos = 2 * k + 1
            if pos not in covered:
                space.add(cp)
            elif pos in alone and cp != ord("a"):
                punct.add(cp)
    return space, punct


def rust_answers():
    """Ask the Rust library (tokenizers) each question for every code point; same compact form as python_answers."""
    from tokenizers import normalizers

    cps = all_code_points()
    cleaned = _map_chunks(normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                                     strip_accents=False, lowercase=False), cps)
    space, punct = _boundary_classes(cps)
    nfd = _map_chunks(normalizers.NFD(), cps)
    # BertNormalizer's accent stripping is NFD, then drop `is_mark_nonspacing` (the StripAccents normalizer drops
    # every combining mark, so it would answer another question); a character NFD changes never reaches the test
    stripped = _map_chunks(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                      strip_accents=True, lowercase=False), cps)
    return {
        "control": {cp for cp, result in cleaned.items() if result == ""} - MOOT["control"],
        "whitespace": space,
        "punctuation": punct,
        "mark": {cp for cp, result in stripped.items() if result == "" and cp not in nfd},
        "nfd": nfd,
        "lower": _map_chunks(normalizers.Lowercase(), cps),
    }


def answer(answers, name, cp):
    """One answer from the compact form."""
    return cp in answers[name] if name in YES_NO else answers[name].get(cp, chr(cp))


def disagreements(rust, python):
    """{property: {cp: Rust's answer}} where the Python rules answer differently (ignoring moot questions: whether
    a character that NFD decomposes is a nonspacing mark)."""
    found = {}
    for name in YES_NO:
        moot = rust["nfd"].keys() if name == "mark" else ()
        found[name] = {cp: cp in rust[name] for cp in rust[name] ^ python[name] if cp not in moot}
    for name in MAPPINGS:
        found[name] = {cp: answer(rust, name, cp) for cp in rust[name].keys() | python[name].keys()
                       if answer(rust, name, cp) != answer(python, name, cp)}
    return found


def format_table(exceptions, tokenizers_version, unicode_versions):
    """The table text: yes/no answers as ranges of consecutive code points, mappings one per line."""
    lines = [
        "# Where the Rust tokenizer (huggingface/tokenizers %s) and Python's unicodedata disagree." % tokenizers_version,
        "# Rust's answer is listed for every code point where the Python rules of squeezebert_np/tokenization.py",
        "# give another answer under Unicode %s (Python's unicodedata)." % ", ".join(unicode_versions),
        "# Generated by tools/make_unicode_exceptions.py; checked by tests/test_tokenization_unicode.py.",
        "# property  code point(s)  Rust's answer (yes/no, or the resulting code points)",
    ]
    for name in YES_NO:
        run = None
        for cp in sorted(exceptions[name]):
            yes = exceptions[name][cp]
            if run and run[1] == cp - 1 and run[2] == yes:
                run[1] = cp
                continue
            if run:
                lines.append(_range_line(name, *run))
            run = [cp, cp, yes]
        if run:
            lines.append(_range_line(name, *run))
    for name in MAPPINGS:
        for cp in sorted(exceptions[name]):
            result = " ".join("%04X" % ord(c) for c in exceptions[name][cp])
            lines.append("%-12s %-13s %s" % (name, "%04X" % cp, result))
    return "\n".join(lines) + "\n"


def _range_line(name, first, last, yes):
    span = "%04X" % first if first == last else "%04X-%04X" % (first, last)
    return "%-12s %-13s %s" % (name, span, "yes" if yes else "no")


def read_table(path=TABLE):
    """{property: {cp: answer}} of the stored table (parsed by the package's own parser)."""
    sys.path.insert(0, str(ROOT))
    from squeezebert_np.tokenization import parse_unicode_exceptions

    parsed = parse_unicode_exceptions(path.read_text(encoding="utf-8"))
    return {name: {ord(ch): answer for ch, answer in parsed[name].items()} for name in parsed}


def check(path=TABLE, rust=None):
    """Problems with the stored table for this Python: a disagreement it misses, or an answer that is not Rust's.
    `rust` may be a result of rust_answers() already at hand."""
    rust = rust or rust_answers()
    python, version = python_answers()
    needed = disagreements(rust, python)
    stored = read_table(path)
    problems = []
    for name in YES_NO + MAPPINGS:
        for cp, rust_says in needed[name].items():
            if stored[name].get(cp) != rust_says:
                problems.append(f"{name} U+{cp:04X}: Rust says {rust_says!r}, Python {version} says "
                                f"{answer(python, name, cp)!r}, table has {stored[name].get(cp)!r}")
        for cp, table_says in stored[name].items():
            if answer(rust, name, cp) != table_says:
                problems.append(f"{name} U+{cp:04X}: table says {table_says!r} but Rust says "
                                f"{answer(rust, name, cp)!r}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", default=[],
                        help="another Python interpreter whose unicodedata the table must also cover")
    parser.add_argument("--check", action="store_true", help="check the stored table against this Python")
    args = parser.parse_args()
    if args.check:
        problems = check()
        print("\n".join(problems) or f"{TABLE.name}: OK")
        sys.exit(1 if problems else 0)

    import tokenizers

    rust = rust_answers()
    exceptions = {name: {} for name in YES_NO + MAPPINGS}
    versions = []
    for python in [sys.executable] + args.python:
        answers, version = python_answers(python)
        versions.append(version)
        for name, found in disagreements(rust, answers).items():
            exceptions[name].update(found)
        print(f"{python}: Unicode {version}", file=sys.stderr)
    TABLE.write_text(format_table(exceptions, tokenizers.__version__, sorted(set(versions))), encoding="utf-8")
    print(f"wrote {TABLE} ({sum(map(len, exceptions.values()))} code points)", file=sys.stderr)


if __name__ == "__main__":
    main()
