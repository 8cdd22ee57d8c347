"""python -m squeezebert_np.finetune end to end on a synthetic checkpoint and synthetic data with a learnable rule.

The checkpoint is the small test architecture (tests/tiny_models.py) with synthetic weights (synthetic.py) and a
40-word vocabulary; the data: a sentence of filler words holding one sentiment word (good/great -> pos,
bad/awful -> neg) for text classification, and person/place words to tag for token classification. Chance is 50%.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from squeezebert_np import cli
from squeezebert_np.finetune import entity_spans, main, span_scores

FILLER = "the a cat dog sat on mat ran far away house tree big small red blue then it was".split()
POS, NEG = ["good", "great"], ["bad", "awful"]
PEOPLE, PLACES = ["john", "mary"], ["paris", "london"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *FILLER, *POS, *NEG, *PEOPLE, *PLACES, "smith", ".", ","]


def sentiment_rows(rng, n):
    rows = []
    for _ in range(n):
        words = list(rng.choice(FILLER, rng.integers(3, 8)))
        y = int(rng.integers(2))
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(POS if y else NEG)))
        rows.append((" ".join(words), ["neg", "pos"][y]))
    return rows


def tagged_rows(rng, n):
    """Words and IOB2 tags: john/mary (optionally followed by smith) are PER, paris/london LOC."""
    rows = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.integers(3, 9)):
            r = rng.random()
            if r < 0.15:
                words.append(str(rng.choice(PEOPLE)))
                tags.append("B-PER")
                if rng.random() < 0.5:
                    words.append("smith")
                    tags.append("I-PER")
            elif r < 0.3:
                words.append(str(rng.choice(PLACES)))
                tags.append("B-LOC")
            else:
                words.append(str(rng.choice(FILLER)))
                tags.append("O")
        rows.append((words, tags))
    return rows


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from squeezebert_np import SqueezeBertConfig, SqueezeBertForMaskedLM
    from squeezebert_np.synthetic import synthetic_state_dict
    from tiny_models import TINY_SQUEEZEBERT
    d = tmp_path_factory.mktemp("finetune")
    (d / "model").mkdir()
    (d / "model" / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = SqueezeBertConfig(**{**TINY_SQUEEZEBERT, "vocab_size": len(VOCAB)})
    SqueezeBertForMaskedLM(config, state_dict=synthetic_state_dict(config)).save_pretrained(d / "model")
    rng = np.random.default_rng(0)
    for name, n in (("train", 256), ("dev", 128)):
        rows = sentiment_rows(rng, n)
        (d / f"{name}.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows))
        rows = tagged_rows(rng, n)
        (d / f"{name}_ner.jsonl").write_text("".join(json.dumps({"tokens": w, "ner_tags": t}) + "\n"
                                                     for w, t in rows))
    return d


def run(args, capsys, quiet=True):
    """main() as the command runs it (one-line errors, exit 1); returns (exit status, stdout, stderr)."""
    try:
        cli.run(main, [str(a) for a in args] + (["--quiet"] if quiet else []))
        status = 0
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


SST = ["--learning_rate", "1e-3", "--batch_size", "16", "--seed", "1"]


def test_learns_the_sentiment_rule_and_transformers_loads_the_output(data, tmp_path, capsys):
    out_dir = tmp_path / "out"
    status, out, err = run(["--model", data / "model", "--train_file", data / "train.tsv", "--validation_file",
                            data / "dev.tsv", "--output_dir", out_dir, "--num_train_epochs", 5, *SST,
                            "--warmup_ratio", 0.1, "--weight_decay", 0.01, "--json"], capsys)
    assert status == 0, err
    metrics = json.loads(out)
    assert metrics["global_step"] == 80 and metrics["epoch"] == 5.0
    assert metrics["eval_accuracy"] >= 0.9                        # chance: 0.5 (measured: 1.0)
    assert json.loads((out_dir / "all_results.json").read_text()) == metrics
    assert sorted(os.listdir(out_dir)) == ["all_results.json", *[f"checkpoint-{16 * e}" for e in range(1, 6)],
                                           "config.json", "model.safetensors", "tokenizer_config.json",
                                           "vocab.txt"]

    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from squeezebert_np import SqueezeBertForSequenceClassification, SqueezeBertTokenizerFast
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(out_dir).eval()
    assert theirs.config.id2label == {0: "neg", 1: "pos"} and theirs.config.problem_type == \
        "single_label_classification"
    their_tokenizer = transformers.AutoTokenizer.from_pretrained(out_dir)
    ours = SqueezeBertForSequenceClassification.from_pretrained(out_dir)
    texts = [line.split("\t")[0] for line in (data / "dev.tsv").read_text().splitlines()[1:17]]
    enc = SqueezeBertTokenizerFast.from_pretrained(out_dir)(texts, padding=True, return_tensors="np")
    their_enc = their_tokenizer(texts, padding=True, return_tensors="pt")
    np.testing.assert_array_equal(enc["input_ids"], their_enc["input_ids"].numpy())
    with torch.no_grad():
        expected = theirs(**their_enc).logits.numpy()
    np.testing.assert_allclose(ours(**enc).logits, expected, rtol=0, atol=1e-5)
    assert np.abs(expected).max() > 0.5                        # trained: confident logits, not the new head's ~0


def test_torch_learns_the_rule_with_the_same_settings(data):
    """The same loop in transformers + torch (same initial weights, batches, AdamW, schedule, clipping, dropout on):
    it learns the rule too. This checks that the task is learnable as set up, not an artefact of our code."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)              # torch's tiny grouped convolutions are 10x slower with 2 busy threads
    try:
        _torch_loop(torch, transformers, data)
    finally:
        torch.set_num_threads(threads)


def _torch_loop(torch, transformers, data):
    from squeezebert_np.finetune import (build_model, classification_examples, collate, encode_classification,
                                         read_records)
    from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast
    tokenizer = SqueezeBertTokenizerFast.from_pretrained(data / "model")
    args = type("Args", (), dict(model=str(data / "model"), ignore_mismatched_sizes=False, seed=1))
    ours = build_model(args, "text-classification", {0: "neg", 1: "pos"}, False, {})
    theirs = transformers.SqueezeBertForSequenceClassification(
        transformers.SqueezeBertConfig(**ours.config.to_dict()))
    theirs.load_state_dict({k: torch.tensor(np.array(v)) for k, v in ours.state_dict().items()})
    sets = {}
    for name in ("train", "dev"):
        records, _ = read_records(str(data / f"{name}.tsv"))
        examples = classification_examples(str(data / f"{name}.tsv"), records, ["sentence"], "label")
        sets[name] = encode_classification(tokenizer, examples, [int(e[3] == "pos") for e in examples], 128)
    named = dict(theirs.named_parameters())
    decay = transformers.Trainer.get_decay_parameter_names(None, theirs)
    opt = torch.optim.AdamW([{"params": [p for n, p in named.items() if n in decay], "weight_decay": 0.01},
                             {"params": [p for n, p in named.items() if n not in decay], "weight_decay": 0.0}],
                            lr=1e-3)
    sched = transformers.get_linear_schedule_with_warmup(opt, 8, 80)
    theirs.train()
    for epoch in range(5):
        order = np.random.default_rng([1, epoch]).permutation(256)
        for i in range(0, 256, 16):
            batch = collate(sets["train"], order[i:i + 16], tokenizer.pad_token_id)
            opt.zero_grad()
            theirs(**{k: torch.tensor(v) for k, v in batch.items()}).loss.backward()
            torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
            opt.step()
            sched.step()
    theirs.eval()
    batch = collate(sets["dev"], range(128), tokenizer.pad_token_id)
    with torch.no_grad():
        logits = theirs(**{k: torch.tensor(v) for k, v in batch.items() if k != "labels"}).logits.numpy()
    accuracy = np.mean(logits.argmax(-1) == batch["labels"])
    assert accuracy >= 0.9, accuracy                                  # measured: 1.0


def test_resume_gives_the_uninterrupted_result(data, tmp_path, capsys):
    """12 steps with accumulation (8 steps an epoch): resuming from step 5 (mid-epoch) ends bit for bit where the
    uninterrupted run ends: weights, optimizer state, schedule, dropout draws and data order all restored."""
    common = ["--model", data / "model", "--train_file", data / "train.tsv", "--validation_file", data / "dev.tsv",
              "--max_steps", 12, "--gradient_accumulation_steps", 2, *SST, "--warmup_steps", 3, "--json"]
    status, out, err = run([*common, "--output_dir", tmp_path / "a", "--save_steps", 5], capsys)
    assert status == 0, err
    assert sorted(n for n in os.listdir(tmp_path / "a") if n.startswith("checkpoint")) == \
        ["checkpoint-10", "checkpoint-12", "checkpoint-5", "checkpoint-8"]
    shutil.copytree(tmp_path / "a" / "checkpoint-5", tmp_path / "b" / "checkpoint-5")
    status, resumed, err = run([*common, "--output_dir", tmp_path / "b", "--resume_from_checkpoint"], capsys)
    assert status == 0, err
    assert json.loads(resumed) == json.loads(out)
    from squeezebert_np.checkpoint.safetensors_io import load_safetensors
    for name in ("model.safetensors", "checkpoint-12/optimizer.safetensors"):
        a, b = load_safetensors(tmp_path / "a" / name), load_safetensors(tmp_path / "b" / name)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    key = "transformer.encoder.layers.0.attention.query.weight"
    start = load_safetensors(data / "model" / "model.safetensors")[key]
    final = load_safetensors(tmp_path / "b" / "model.safetensors")
    assert not np.array_equal(final[key], start)                # it did train
    # another seed is another run: the checkpoint refuses it
    status, _, err = run([*common[:-1], "--seed", 2, "--output_dir", tmp_path / "b",
                          "--resume_from_checkpoint", tmp_path / "a" / "checkpoint-5"], capsys)
    assert status == 1 and "other settings" in err


def test_token_classification_learns_the_tags(data, tmp_path, capsys):
    out_dir = tmp_path / "ner"
    status, out, err = run(["--task", "token-classification", "--model", data / "model", "--train_file",
                            data / "train_ner.jsonl", "--validation_file", data / "dev_ner.jsonl",
                            "--output_dir", out_dir, "--num_train_epochs", 4, *SST, "--learning_rate", 3e-3,
                            "--json"], capsys)
    assert status == 0, err
    metrics = json.loads(out)
    assert metrics["eval_f1"] >= 0.9 and metrics["eval_accuracy"] >= 0.9     # measured: 1.0 and 1.0
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from squeezebert_np import SqueezeBertForTokenClassification, SqueezeBertTokenizerFast
    theirs = transformers.AutoModelForTokenClassification.from_pretrained(out_dir).eval()
    assert theirs.config.id2label == {0: "B-LOC", 1: "B-PER", 2: "I-PER", 3: "O"}
    words = [json.loads(line)["tokens"] for line in (data / "dev_ner.jsonl").read_text().splitlines()[:8]]
    enc = SqueezeBertTokenizerFast.from_pretrained(out_dir)(words, is_split_into_words=True, padding=True,
                                                            return_tensors="np")
    with torch.no_grad():
        expected = theirs(**{k: torch.tensor(v) for k, v in enc.items()}).logits.numpy()
    ours = SqueezeBertForTokenClassification.from_pretrained(out_dir)(**enc).logits
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)


def test_pairs_in_csv_with_a_float_label_are_a_regression(data, tmp_path, capsys):
    rows = ['sentence1,sentence2,score', '"the cat, big",the dog,0.5', 'a tree,"red ""blue""",1.25',
            'good,bad,3.0', 'the mat,it was,2.5']
    (tmp_path / "sts.csv").write_text("\n".join(rows) + "\n")
    status, out, err = run(["--model", data / "model", "--train_file", tmp_path / "sts.csv", "--validation_file",
                            tmp_path / "sts.csv", "--label_column_name", "score", "--output_dir", tmp_path / "o",
                            "--max_steps", 2, "--batch_size", 2, "--json"], capsys, quiet=False)
    assert status == 0, err
    progress = [line for line in err.splitlines() if line.startswith("step ")]   # stderr is not a terminal here
    assert progress[-1].startswith("step 2/2  epoch 1.00  loss ") and progress[-1].endswith("steps/s"), err
    assert "eval_loss" in err
    metrics = json.loads(out)
    assert metrics["eval_mse"] == pytest.approx(metrics["eval_loss"], rel=1e-5)
    config = json.loads((tmp_path / "o" / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "LABEL_0"}


def test_long_sequences_are_cut_to_the_model_and_resuming_needs_a_checkpoint(data, tmp_path, capsys):
    long = " ".join(["the cat sat"] * 40)                   # 120 words, the model takes 64 positions
    train = write(tmp_path / "t.tsv", f"sentence\tlabel\n{long}\tpos\ngood\tneg\n")
    common = ["--model", data / "model", "--train_file", train, "--max_steps", 1]
    status, _, err = run([*common, "--output_dir", tmp_path / "o", "--max_seq_length", 512], capsys)
    assert status == 0 and "--max_seq_length 512 is more than the model takes: using 64" in err, err
    status, _, err = run([*common, "--output_dir", tmp_path / "empty", "--resume_from_checkpoint"], capsys)
    assert status == 1 and "no checkpoint-N directory" in err


def write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.mark.parametrize("train, dev, flags, message", [
    ("sentence\tlabel\n", None, [], r"train.tsv: no examples"),
    ("", None, [], r"train.tsv: no examples"),
    ("text\tlabel\na b\tpos\n", None, [], None),                            # control: a one-column file is fine
    ("sentence\tgold\ngood\tpos\n", None, [], r"train.tsv, line 2: no column 'label' \(columns: sentence, gold\)"),
    ("sentence\tlabel\ngood\tpos\nbad\tneg\n", "sentence\tlabel\ngood\tpos\nbad\tmeh\n", [],
     r"dev.tsv, line 3: label 'meh' is not among the training labels \(neg, pos\)"),
    (b"sentence\tlabel\ngood\tpos\nb\xe9d\tneg\n", None, [], r"train.tsv, line 3: not UTF-8 text \(byte 0xe9"),
    ("sentence\tlabel\ngood\tpos\tx\n", None, [], r"train.tsv, line 2: 3 fields, the header has 2"),
    ('{"tokens": ["a"], "ner_tags": ["O"]}\n{"tokens": ["a", "b"], "ner_tags": ["O"]}\n', None,
     ["--task", "token-classification"], r"train.jsonl, line 2: 2 words but 1 tags"),
    ('{"tokens": ["a"], "ner_tags": ["O"]}\n{"tokens": ["a"]\n', None, ["--task", "token-classification"],
     r"train.jsonl, line 2: not JSON"),
    ('{"tokens": ["a"], "ner_tags": ["O"]}\n{"words": ["a"], "ner_tags": ["O"]}\n', None,
     ["--task", "token-classification"], r"train.jsonl, line 2: no column 'tokens'"),
])
def test_bad_data_is_one_line_naming_the_file_and_line(data, tmp_path, capsys, train, dev, flags, message):
    suffix = ".jsonl" if "--task" in flags else ".tsv"
    args = ["--model", data / "model", "--train_file", write(tmp_path / f"train{suffix}", train),
            "--output_dir", tmp_path / "o", "--max_steps", 1, *flags]
    if dev is not None:
        args += ["--validation_file", write(tmp_path / f"dev{suffix}", dev)]
    status, _, err = run(args, capsys)
    if message is None:
        assert status == 0, err
        return
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert status == 1 and len(lines) == 1, err
    import re
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o").exists()                     # nothing written before the data is known good


def test_the_command_exits_1_with_one_line(data, tmp_path):
    train = write(tmp_path / "t.csv", "sentence,label\ngood,pos\n")
    result = subprocess.run([sys.executable, "-m", "squeezebert_np.finetune", "--model", str(data / "model"),
                             "--train_file", str(train), "--label_column_name", "gold", "--output_dir",
                             str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{train}, line 2: no column 'gold'" in result.stderr


# ---- entity spans: seqeval's rules against a naive reference ----

def naive_spans(tags):
    """IOB2 read by hand: an entity begins at B-X, or at I-X not continuing an X entity; it goes on over I-X."""
    spans, i = set(), 0
    while i < len(tags):
        if tags[i] == "O":
            i += 1
            continue
        kind = tags[i][2:]
        j = i + 1
        while j < len(tags) and tags[j] == f"I-{kind}":
            j += 1
        spans.add((kind, i, j - 1))
        i = j
    return spans


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), max_size=12))
def test_entity_spans_match_a_naive_reading_of_iob2(tags):
    assert entity_spans(tags) == naive_spans(tags)


def test_span_scores_seqeval_documentation_example():
    # seqeval's README: f1_score of these is 0.50 (one of two entities right, two predicted)
    y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    scores = span_scores(y_true, y_pred)
    assert scores["f1"] == 0.5 and scores["precision"] == 0.5 and scores["recall"] == 0.5
    assert scores["accuracy"] == pytest.approx(0.8)                 # seqeval accuracy_score: 8 of 10 tags
    assert entity_spans(["S-PER", "B-LOC", "E-LOC", "I-LOC"]) == {("PER", 0, 0), ("LOC", 1, 2), ("LOC", 3, 3)}


def test_a_classifier_of_another_size_needs_ignore_mismatched_sizes(data, tmp_path, capsys):
    two = ["--train_file", data / "train.tsv", "--max_steps", 1]
    status, _, err = run(["--model", data / "model", *two, "--output_dir", tmp_path / "two"], capsys)
    assert status == 0, err
    three = write(tmp_path / "three.tsv", "sentence\tlabel\ngood\tpos\nbad\tneg\nthe cat\tnone\n")
    common = ["--model", tmp_path / "two", "--train_file", three, "--max_steps", 1, "--output_dir", tmp_path / "o"]
    status, _, err = run(common, capsys)
    assert status == 1 and "classifier for 2 labels and the data has 3: pass --ignore_mismatched_sizes" in err
    status, _, err = run([*common, "--ignore_mismatched_sizes"], capsys)
    assert status == 0 and "classifier.weight (2, 32) replaced by a new (3, 32) one" in err, err
    config = json.loads((tmp_path / "o" / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "none", "2": "pos"}
