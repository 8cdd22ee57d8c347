"""Fine-tune a SqueezeBERT checkpoint on local CSV / TSV / JSON-lines files, in NumPy.

    python -m squeezebert_np.finetune --model squeezebert/squeezebert-mnli-headless \\
        --train_file SST-2/train.tsv --validation_file SST-2/dev.tsv --output_dir sst2-model

This is transformers' run_glue.py / run_classification.py (text classification: one sentence or a pair, or
regression on one float label) and run_ner.py (token classification: words and their tags) with the Trainer's
loop: AdamW over the Trainer's parameter groups, the linear schedule with warmup, clipping by global norm, gradient
accumulation, evaluation and a checkpoint after every epoch. The output directory is a save_pretrained directory
(config.json with the label names, model.safetensors, vocab.txt) that transformers and this package both load.

The files. `.csv` (comma, "quoted" fields), `.tsv` (tab-separated, no quoting, as GLUE's files) and `.json` /
`.jsonl` (one JSON object a line); the first line of a CSV / TSV file names the columns. Text classification reads
--text_column_names (default as run_glue: sentence1,sentence2 if present, else the first two or one columns other
than the label) and --label_column_name (default label). Token classification reads --text_column_name (a list of
words in JSON, whitespace-separated words in CSV / TSV; default tokens) and --label_column_name (the tags in the
same form; default ner_tags). Label names are the sorted distinct training labels (numbers sorted as numbers);
labels that are numbers but not all integers make a regression (or say --do_regression).

Differences from the scripts, on purpose: batches are padded to their longest sequence (run_glue pads to
--max_seq_length; the logits are the same); an optimizer step with fewer micro-batches than
--gradient_accumulation_steps (the end of an epoch) averages the ones it has; the data order of epoch e is a
permutation drawn from (seed, e), so a resumed run sees the same batches as an uninterrupted one.
"""
import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
import warnings

import numpy as np

from . import cli
from .checkpoint.safetensors_io import make_folder
from .errors import DatasetError, TrainingError

TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION = "text-classification", "token-classification"

EXAMPLES = """examples:
  python -m squeezebert_np.finetune --train_file train.tsv --validation_file dev.tsv --output_dir sst2-model
  python -m squeezebert_np.finetune --train_file mnli.jsonl --text_column_names premise,hypothesis \\
      --label_column_name label --num_train_epochs 3 --output_dir mnli-model
  python -m squeezebert_np.finetune --task token-classification --train_file ner.jsonl --output_dir ner-model
  python -m squeezebert_np.finetune ... --resume_from_checkpoint          # the last checkpoint in --output_dir
"""


# ---------------------------------------------------------------------------------------------------------------
# reading the files: (line number, record) pairs; every problem names the file and the line
# ---------------------------------------------------------------------------------------------------------------

def read_text_lines(path):
    """(line number, text) for each line of a UTF-8 file (a BOM at the start is dropped)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise DatasetError(f"{path}, line {number}: not UTF-8 text (byte 0x{raw[e.start]:02x} at "
                                   f"column {e.start + 1})") from None


def read_records(path):
    """[(line number, {column: value})] from a .csv, .tsv, .json or .jsonl file, and the column names."""
    ext = os.path.splitext(path)[1].lower()
    if ext in (".json", ".jsonl"):
        return read_json_lines(path)
    if ext in (".csv", ".tsv"):
        return read_delimited(path, "," if ext == ".csv" else "\t")
    raise DatasetError(f"{path}: unknown file type {ext or '(no extension)'!r}: use .csv, .tsv, .json or .jsonl")


def read_delimited(path, delimiter):
    """CSV (standard quoting) or TSV (no quoting: GLUE's files have stray quotes): a header line, then rows."""
    where = {"line": 0}

    def lines():
        for number, text in read_text_lines(path):
            where["line"] = number
            yield text

    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    reader = csv.reader(lines(), delimiter=delimiter, quoting=quoting, strict=True)
    records, header = [], None
    try:
        for row in reader:
            line = where["line"]
            if not row or (len(row) == 1 and not row[0].strip()):
                continue                                            # blank line
            if header is None:
                header = [name.strip() for name in row]
                duplicated = sorted({n for n in header if header.count(n) > 1})
                if duplicated:
                    raise DatasetError(f"{path}, line {line}: the header names {duplicated[0]!r} twice")
                continue
            if len(row) != len(header):
                raise DatasetError(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}")
            records.append((line, dict(zip(header, row))))
    except csv.Error as e:
        raise DatasetError(f"{path}, line {where['line']}: {e}") from None
    if not records:
        raise DatasetError(f"{path}: no examples (the file is empty or has a header only)")
    return records, header


def read_json_lines(path):
    records = []
    for line, text in read_text_lines(path):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}, line {line}: not JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}, line {line}: expected a JSON object, got {type(record).__name__}")
        records.append((line, record))
    if not records:
        raise DatasetError(f"{path}: no examples (the file is empty)")
    return records, list(records[0][1])


def field(path, line, record, column):
    if column not in record:
        raise DatasetError(f"{path}, line {line}: no column {column!r} (columns: {', '.join(map(str, record))})")
    return record[column]


def text_field(path, line, record, column):
    value = field(path, line, record, column)
    if not isinstance(value, str):
        raise DatasetError(f"{path}, line {line}: column {column!r} must be text, got {json.dumps(value)[:40]}")
    return value


def list_field(path, line, record, column):
    """Words or tags: a JSON list of strings (numbers allowed for tags), or whitespace-separated in CSV / TSV."""
    value = field(path, line, record, column)
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
        raise DatasetError(f"{path}, line {line}: column {column!r} must be a list of words or tags")
    return [str(v) for v in items]


def label_key(path, line, value, column):
    """A class label as a string (JSON numbers as written), or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        raise DatasetError(f"{path}, line {line}: column {column!r} must be a non-empty label, got {value!r}")
    return value if isinstance(value, str) else json.dumps(value)


# ---------------------------------------------------------------------------------------------------------------
# the task: columns, label names, encoded examples
# ---------------------------------------------------------------------------------------------------------------

def default_text_columns(columns, label_column):
    """run_glue's choice: sentence1/sentence2 if both exist, else the first two (or one) non-label columns."""
    others = [c for c in columns if c != label_column]
    if "sentence1" in others and "sentence2" in others:
        return ["sentence1", "sentence2"]
    return others[:2] if len(others) >= 2 else others[:1]


def _number(key):
    try:
        value = float(key)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def sorted_label_names(keys):
    """The distinct labels, sorted as numbers when they all are numbers, else as strings (run_glue sorts them)."""
    distinct = set(keys)
    if all(_number(k) is not None for k in distinct):
        return sorted(distinct, key=lambda k: (_number(k), k))
    return sorted(distinct)


def is_regression(keys):
    """Labels that are all numbers, not all integers: run_glue's test (a float column) on text labels."""
    numbers = [_number(k) for k in keys]
    return all(n is not None for n in numbers) and any(not n.is_integer() or "." in k or "e" in k.lower()
                                                         for n, k in zip(numbers, keys))


def classification_examples(path, records, text_columns, label_column):
    """[(line, text_a, text_b or None, label key)] for text classification."""
    out = []
    for line, record in records:
        texts = [text_field(path, line, record, c) for c in text_columns]
        key = label_key(path, line, field(path, line, record, label_column), label_column)
        out.append((line, texts[0], texts[1] if len(texts) > 1 else None, key))
    return out


def token_examples(path, records, words_column, tags_column):
    """[(line, words, tags)] for token classification."""
    out = []
    for line, record in records:
        words = list_field(path, line, record, words_column)
        tags = list_field(path, line, record, tags_column)
        if not words:
            raise DatasetError(f"{path}, line {line}: no words")
        if len(words) != len(tags):
            raise DatasetError(f"{path}, line {line}: {len(words)} words but {len(tags)} tags")
        out.append((line, words, tags))
    return out


def label_ids(path, examples, label2id, regression, get):
    """Each example's label id(s); a label the training data did not have is an error naming the line."""
    ids = []
    for example in examples:
        line, value = example[0], get(example)
        if regression:
            number = _number(value)
            if number is None:
                raise DatasetError(f"{path}, line {line}: the regression label {value!r} is not a finite number")
            ids.append(number)
            continue
        unknown = [v for v in (value if isinstance(value, list) else [value]) if v not in label2id]
        if unknown:
            raise DatasetError(f"{path}, line {line}: label {unknown[0]!r} is not among the training labels "
                               f"({', '.join(label2id)})")
        ids.append([label2id[v] for v in value] if isinstance(value, list) else label2id[value])
    return ids


def encode_classification(tokenizer, examples, labels, max_length):
    """[{"input_ids", "token_type_ids", "labels"}] (unpadded), truncated to max_length as run_glue."""
    pairs = examples[0][2] is not None
    enc = tokenizer([e[1] for e in examples], [e[2] for e in examples] if pairs else None, truncation=True,
                    max_length=max_length)
    return [{"input_ids": ids, "token_type_ids": types, "labels": label}
            for ids, types, label in zip(enc["input_ids"], enc["token_type_ids"], labels)]


def encode_tokens(tokenizer, examples, labels, max_length):
    """run_ner's labelling: a word's tag on its first piece, -100 (ignored) on the others and the special tokens."""
    enc = tokenizer([e[1] for e in examples], is_split_into_words=True, truncation=True, max_length=max_length)
    out = []
    for i, tags in enumerate(labels):
        word_ids, previous, token_labels = enc.word_ids(i), None, []
        for w in word_ids:
            token_labels.append(-100 if w is None or w == previous else tags[w])
            previous = w
        out.append({"input_ids": enc["input_ids"][i], "token_type_ids": enc["token_type_ids"][i],
                    "labels": token_labels})
    return out


def collate(encoded, indices, pad_token_id, regression=False):
    """One batch padded to its longest sequence: int64 arrays (labels -100 on padding), float32 for regression."""
    rows = [encoded[i] for i in indices]
    width = max(len(r["input_ids"]) for r in rows)
    batch = {"input_ids": np.full((len(rows), width), pad_token_id, np.int64),
             "attention_mask": np.zeros((len(rows), width), np.int64),
             "token_type_ids": np.zeros((len(rows), width), np.int64)}
    for j, r in enumerate(rows):
        n = len(r["input_ids"])
        batch["input_ids"][j, :n], batch["attention_mask"][j, :n] = r["input_ids"], 1
        batch["token_type_ids"][j, :n] = r["token_type_ids"]
    if isinstance(rows[0]["labels"], list):
        batch["labels"] = np.full((len(rows), width), -100, np.int64)
        for j, r in enumerate(rows):
            batch["labels"][j, :len(r["labels"])] = r["labels"]
    else:
        batch["labels"] = np.array([r["labels"] for r in rows], np.float32 if regression else np.int64)
    return batch


# ---------------------------------------------------------------------------------------------------------------
# metrics: accuracy, and F1 of entity spans as seqeval (conlleval's chunk rules for IOB / IOBES tags)
# ---------------------------------------------------------------------------------------------------------------

def _split_tag(tag):
    """"B-PER" -> ("B", "PER"); "O" -> ("O", ""); a tag without a B/I/E/S prefix is seqeval's ('I'-like) type."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if sep and prefix in ("B", "I", "E", "S"):
        return prefix, kind
    return tag[0], tag[1:].split("-", 1)[-1] or "_"          # seqeval's reading of any other tag


def entity_spans(tags):
    """{(type, first, last)}: the entities in one tag sequence, by conlleval's rules (as seqeval's default mode:
    an I-X after O or after another type starts an entity)."""
    spans, start, prev_prefix, prev_kind = set(), 0, "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = _split_tag(tag)
        ends = (prev_prefix in ("E", "S") or (prev_prefix in ("B", "I") and prefix in ("B", "S", "O"))
                or (prev_prefix != "O" and prev_kind != kind))
        starts = (prefix in ("B", "S") or (prev_prefix in ("E", "S", "O") and prefix in ("E", "I"))
                  or (prefix != "O" and prev_kind != kind))
        if ends and prev_prefix != "O":
            spans.add((prev_kind, start, i - 1))
        if starts:
            start = i
        prev_prefix, prev_kind = prefix, kind
    return spans


def span_scores(true_sequences, predicted_sequences):
    """Micro precision, recall and F1 of exact entity spans over all sequences, and word accuracy."""
    correct = n_true = n_pred = words = right = 0
    for truth, pred in zip(true_sequences, predicted_sequences):
        t, p = entity_spans(truth), entity_spans(pred)
        correct, n_true, n_pred = correct + len(t & p), n_true + len(t), n_pred + len(p)
        words, right = words + len(truth), right + sum(a == b for a, b in zip(truth, pred))
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": right / words if words else 0.0}


def evaluate(model, encoded, task, id2label, pad_token_id, batch_size, regression=False):
    """The eval metrics (eval_loss and accuracy; mse for regression; span precision/recall/F1 for tags)."""
    model.eval()
    loss_sum, predictions, references = 0.0, [], []
    for begin in range(0, len(encoded), batch_size):
        indices = range(begin, min(begin + batch_size, len(encoded)))
        batch = collate(encoded, indices, pad_token_id, regression)
        out = model(**batch)
        loss_sum += float(out.loss) * len(indices)
        for row, labels in zip(out.logits, batch["labels"]):
            if task == TOKEN_CLASSIFICATION:
                kept = labels != -100                           # run_ner: the words' first pieces
                predictions.append([id2label[int(k)] for k in row[kept].argmax(-1)])
                references.append([id2label[int(k)] for k in labels[kept]])
            else:
                predictions.append(float(row[0]) if regression else int(row.argmax()))
                references.append(float(labels) if regression else int(labels))
    model.train()
    metrics = {"eval_loss": loss_sum / len(encoded)}
    if task == TOKEN_CLASSIFICATION:
        metrics.update({f"eval_{k}": v for k, v in span_scores(references, predictions).items()})
    elif regression:
        metrics["eval_mse"] = float(np.mean((np.array(predictions) - np.array(references)) ** 2))
    else:
        metrics["eval_accuracy"] = float(np.mean(np.array(predictions) == np.array(references)))
    return metrics


# ---------------------------------------------------------------------------------------------------------------
# checkpoints: model, tokenizer, optimizer and schedule state, written to a temporary directory then renamed
# ---------------------------------------------------------------------------------------------------------------

OPTIMIZER_FILE, STATE_FILE = "optimizer.safetensors", "trainer_state.json"


def save_checkpoint(directory, model, tokenizer, optimizer, scheduler, state, keep=None):
    """Write checkpoint-{step} in `directory` atomically: all files go to a temporary directory that is renamed
    into place, so an interrupted save leaves the previous checkpoint and no partial one. With `keep`, only the
    newest `keep` checkpoints stay (the Trainer's save_total_limit)."""
    from .checkpoint.safetensors_io import save_safetensors
    from .config import write_text_atomically
    final = os.path.join(directory, f"checkpoint-{state['global_step']}")
    tmp = os.path.join(directory, f".tmp-checkpoint-{state['global_step']}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        opt_state = optimizer.state_dict()
        tensors = {f"{kind}.{name}": s[kind] for name, s in opt_state["state"].items()
                   for kind in ("exp_avg", "exp_avg_sq")}
        save_safetensors(tensors, os.path.join(tmp, OPTIMIZER_FILE), metadata={"format": "np"})
        saved = {**state, "optimizer": {"steps": {n: s["step"] for n, s in opt_state["state"].items()},
                                        "param_groups": opt_state["param_groups"]},
                 "scheduler": scheduler.state_dict(), "dropout_rng": model.dropout_rng.bit_generator.state}
        write_text_atomically(os.path.join(tmp, STATE_FILE), json.dumps(saved, indent=1) + "\n")
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if keep:
        steps = sorted(int(n.split("-", 1)[1]) for n in os.listdir(directory)
                       if n.startswith("checkpoint-") and n.split("-", 1)[1].isdigit())
        for step in steps[:-keep]:
            shutil.rmtree(os.path.join(directory, f"checkpoint-{step}"), ignore_errors=True)
    return final


def last_checkpoint(directory):
    """The checkpoint-N directory with the largest N in `directory`, or None (transformers' get_last_checkpoint)."""
    if not os.path.isdir(directory):
        return None
    steps = [int(n.split("-", 1)[1]) for n in os.listdir(directory)
             if n.startswith("checkpoint-") and n.split("-", 1)[1].isdigit()
             and os.path.isfile(os.path.join(directory, n, STATE_FILE))]
    return os.path.join(directory, f"checkpoint-{max(steps)}") if steps else None


def load_checkpoint(path, model):
    """Load a checkpoint's weights into `model` (before the optimizer is made); returns its trainer state."""
    from .checkpoint.safetensors_io import load_safetensors
    try:
        with open(os.path.join(path, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError) as e:
        raise TrainingError(f"{path} is not a checkpoint of this command: {e}") from None
    model.load_state_dict(dict(load_safetensors(os.path.join(path, "model.safetensors"))), strict=True)
    state["optimizer_tensors"] = dict(load_safetensors(os.path.join(path, OPTIMIZER_FILE)))
    return state


def restore_training_state(state, model, optimizer, scheduler):
    tensors = state.pop("optimizer_tensors")
    steps = state.pop("optimizer")
    optimizer.load_state_dict({"param_groups": steps["param_groups"],
                               "state": {name: {"step": step, "exp_avg": tensors[f"exp_avg.{name}"],
                                                "exp_avg_sq": tensors[f"exp_avg_sq.{name}"]}
                                         for name, step in steps["steps"].items()}})
    scheduler.load_state_dict(state.pop("scheduler"))
    model.dropout_rng = np.random.default_rng()
    model.dropout_rng.bit_generator.state = state.pop("dropout_rng")
    return state


# ---------------------------------------------------------------------------------------------------------------
# the training loop
# ---------------------------------------------------------------------------------------------------------------

class Progress:
    """One status line on stderr (rewritten in place on a terminal, a line per tenth of the run otherwise)."""

    def __init__(self, total, first_step, stream=None, quiet=False):
        stream = sys.stderr if stream is None else stream
        self.total, self.first, self.stream, self.quiet = total, first_step, stream, quiet
        self.start = self.last_print = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, step, epoch, loss, lr):
        now = time.perf_counter()
        rate = (step - self.first) / max(now - self.start, 1e-9)
        line = (f"step {step}/{self.total}  epoch {epoch:.2f}  loss {loss:.4f}  lr {lr:.2e}  {rate:.2f} steps/s")
        if self.quiet:
            return
        if self.tty and (now - self.last_print > 0.2 or step == self.total):
            self.last_print = now
            print(f"\r{line}", end="\n" if step == self.total else "", file=self.stream, flush=True)
        elif not self.tty and (step % max(1, self.total // 10) == 0 or step == self.total):
            print(line, file=self.stream, flush=True)

    def message(self, text):
        if not self.quiet:
            print(("\n" if self.tty else "") + text, file=self.stream, flush=True)


def train(model, tokenizer, train_set, eval_set, args, task, regression, output_dir, resume_state=None,
          log=None):
    """Fine-tune `model` in place on the encoded `train_set`; returns the metrics of the last evaluation."""
    from .optim import AdamW, add_grads, clip_grad_norm_, get_linear_schedule_with_warmup
    log = log or Progress(0, 0, quiet=True)
    n, bs, ga = len(train_set), args.per_device_train_batch_size, args.gradient_accumulation_steps
    batches_per_epoch = math.ceil(n / bs)
    steps_per_epoch = math.ceil(batches_per_epoch / ga)
    total = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * steps_per_epoch)
    warmup = (args.warmup_steps if args.warmup_steps >= 1 else math.ceil(args.warmup_steps * total)) \
        if args.warmup_steps > 0 else math.ceil(args.warmup_ratio * total)
    model.train()
    model.dropout_rng = np.random.default_rng([args.seed, 1])
    optimizer = AdamW(model, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon,
                      weight_decay=args.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup), total)
    plan = {"total_steps": total, "steps_per_epoch": steps_per_epoch, "warmup_steps": int(warmup),
            "train_examples": n, "batch_size": bs, "gradient_accumulation_steps": ga, "seed": args.seed}
    state = {"global_step": 0, "epoch": 0.0, "plan": plan, "log_history": []}
    if resume_state is not None:
        if resume_state.get("plan") != plan:
            raise TrainingError(f"the checkpoint was made with other settings or data: {resume_state.get('plan')} "
                                f"(now {plan})")
        state = restore_training_state(resume_state, model, optimizer, scheduler)
    log.total, log.first = total, state["global_step"]
    metrics = {}
    step = state["global_step"]
    while step < total:
        epoch = step // steps_per_epoch
        order = np.random.default_rng([args.seed, epoch]).permutation(n)
        batches = [order[i:i + bs] for i in range(0, n, bs)]
        for group_start in range(ga * (step % steps_per_epoch), batches_per_epoch, ga):
            group = batches[group_start:group_start + ga]
            grads, loss = {}, 0.0
            for indices in group:                       # gradient accumulation: the mean over the micro-batches
                micro_loss, micro_grads = model.loss_and_grads(**collate(train_set, indices, tokenizer.pad_token_id,
                                                                         regression))
                add_grads(grads, micro_grads, 1 / len(group))
                loss += float(micro_loss) / len(group)
            if not math.isfinite(loss):
                raise TrainingError(f"the loss is {loss} at step {step + 1}: lower --learning_rate?")
            if args.max_grad_norm > 0:
                norm = clip_grad_norm_(grads, args.max_grad_norm)
                if not math.isfinite(norm):
                    raise TrainingError(f"the gradient norm is {norm} at step {step + 1}: lower --learning_rate?")
            lr = scheduler.get_last_lr()[0]
            optimizer.step(grads)
            scheduler.step()
            step += 1
            state["global_step"], state["epoch"] = step, round(step / steps_per_epoch, 4)
            state["log_history"].append({"step": step, "loss": loss, "learning_rate": lr})
            log.update(step, state["epoch"], loss, lr)
            if args.save_steps > 0 and step % args.save_steps == 0 and step < total and step % steps_per_epoch:
                # (an epoch's last step is saved below, after its evaluation, so a resumed run repeats nothing)
                save_checkpoint(output_dir, model, tokenizer, optimizer, scheduler, state, args.save_total_limit)
            if step == total:
                break
        if eval_set is not None:
            metrics = evaluate(model, eval_set, task, model.config.id2label, tokenizer.pad_token_id,
                               args.per_device_eval_batch_size, regression)
            metrics["epoch"] = state["epoch"]
            state["log_history"].append({"step": step, **metrics})
            log.message("  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        save_checkpoint(output_dir, model, tokenizer, optimizer, scheduler, state, args.save_total_limit)
    return metrics, state


# ---------------------------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------------------------

def load_examples(path, task, text_columns, label_column, words_column):
    """(examples, label getter) for one file, the columns checked."""
    records, columns = read_records(path)
    if task == TOKEN_CLASSIFICATION:
        words_column = words_column or ("tokens" if "tokens" in columns else columns[0])
        label_column = label_column or ("ner_tags" if "ner_tags" in columns else columns[1 % len(columns)])
        return token_examples(path, records, words_column, label_column), (lambda e: e[2])
    label_column = label_column or "label"
    text_columns = text_columns or default_text_columns(columns, label_column)
    if not text_columns or len(text_columns) > 2:
        raise DatasetError(f"{path}: give one or two text columns (--text_column_names), found "
                           f"{', '.join(columns)}")
    return classification_examples(path, records, text_columns, label_column), (lambda e: e[3])


def build_model(args, task, id2label, regression, where):
    """The checkpoint with the task's head: the config's labels set from the data, a classifier of another size
    replaced by a new one with --ignore_mismatched_sizes (as transformers' from_pretrained)."""
    from .checkpoint.files import load_weights
    from .config import SqueezeBertConfig
    from .heads import SqueezeBertForSequenceClassification, SqueezeBertForTokenClassification
    model_class = (SqueezeBertForTokenClassification if task == TOKEN_CLASSIFICATION
                   else SqueezeBertForSequenceClassification)
    config = SqueezeBertConfig.from_pretrained(args.model, **where)
    config.id2label = dict(id2label)
    config.label2id = {label: i for i, label in id2label.items()}
    config.problem_type = ("regression" if regression else
                           "single_label_classification" if task == TEXT_CLASSIFICATION else None)
    weights, _ = load_weights(args.model, **where)
    weights = dict(weights)
    for key, shape in (("classifier.weight", (len(id2label), config.hidden_size)), ("classifier.bias",
                                                                                    (len(id2label),))):
        if key in weights and tuple(weights[key].shape) != shape:
            if not args.ignore_mismatched_sizes:
                raise TrainingError(f"{args.model} has a classifier for {weights[key].shape[0]} labels and the "
                                    f"data has {len(id2label)}: pass --ignore_mismatched_sizes to start a new one")
            print(f"note: {key} {tuple(weights[key].shape)} replaced by a new {shape} one", file=sys.stderr)
            del weights[key]
    with warnings.catch_warnings(record=True) as caught:           # one line each, not a source listing
        warnings.simplefilter("always")
        model = model_class(config, state_dict=weights, seed=args.seed)
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    return model


def finetune(args):
    """Read the data, build the model, train, evaluate, save; returns the metrics."""
    from .tokenization_fast import SqueezeBertTokenizerFast
    where = dict(revision=args.revision, cache_dir=args.cache_dir, local_files_only=args.offline, token=args.token)
    task = args.task
    text_columns = [c.strip() for c in args.text_column_names.split(",")] if args.text_column_names else None
    train_examples, get_label = load_examples(args.train_file, task, text_columns, args.label_column_name,
                                              args.text_column_name)
    keys = [get_label(e) for e in train_examples]
    flat = [k for ks in keys for k in ks] if task == TOKEN_CLASSIFICATION else keys
    regression = task == TEXT_CLASSIFICATION and (args.do_regression or is_regression(flat))
    names = ["LABEL_0"] if regression else sorted_label_names(flat)
    id2label = dict(enumerate(names))
    label2id = {name: i for i, name in id2label.items()}
    train_labels = label_ids(args.train_file, train_examples, label2id, regression, get_label)
    eval_examples = eval_labels = None
    if args.validation_file:
        eval_examples, _ = load_examples(args.validation_file, task, text_columns, args.label_column_name,
                                         args.text_column_name)
        eval_labels = label_ids(args.validation_file, eval_examples, label2id, regression, get_label)

    tokenizer = SqueezeBertTokenizerFast.from_pretrained(args.model, **where)
    model = build_model(args, task, id2label, regression, where)
    max_length = min(args.max_seq_length, model.config.max_position_embeddings)
    if max_length < args.max_seq_length:                    # run_glue's warning: the model cannot take more
        print(f"note: --max_seq_length {args.max_seq_length} is more than the model takes: using {max_length}",
              file=sys.stderr)
    encode = encode_tokens if task == TOKEN_CLASSIFICATION else encode_classification
    train_set = encode(tokenizer, train_examples, train_labels, max_length)
    eval_set = encode(tokenizer, eval_examples, eval_labels, max_length) if eval_examples else None

    make_folder(args.output_dir)
    resume_state = None
    if args.resume_from_checkpoint is not None:
        path = args.resume_from_checkpoint or last_checkpoint(args.output_dir)
        if path is None:
            raise TrainingError(f"no checkpoint-N directory in {args.output_dir} to resume from")
        resume_state = load_checkpoint(path, model)
    log = Progress(0, 0, quiet=args.quiet)
    metrics, state = train(model, tokenizer, train_set, eval_set, args, task, regression, args.output_dir,
                           resume_state, log)
    model.save_pretrained(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    result = {"global_step": state["global_step"], "epoch": state["epoch"],
              "train_loss": float(np.mean(losses)) if losses else None, **metrics}
    from .config import write_text_atomically
    write_text_atomically(os.path.join(args.output_dir, "all_results.json"), json.dumps(result, indent=1) + "\n")
    return result


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative(kind):
    def parse(text):
        value = kind(text)
        if not value >= 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
        return value
    return parse


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m squeezebert_np.finetune", description=__doc__.split("\n\n")[0],
                                     epilog=EXAMPLES, formatter_class=cli.HelpFormatter)

    def option(name, *aliases, **kwargs):      # transformers' spelling (--train_file) and ours (--train-file)
        dashed = [f"--{name.replace('_', '-')}"] if "_" in name else []
        parser.add_argument(f"--{name}", *dashed, *aliases, **kwargs)

    cli.add_model_options(parser, "squeezebert/squeezebert-mnli-headless")
    option("task", choices=(TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION), default=TEXT_CLASSIFICATION,
           help="text-classification (sentences or pairs; regression) or token-classification (words and tags)")
    option("train_file", required=True, help=".csv, .tsv, .json or .jsonl training data")
    option("validation_file", help="evaluated after every epoch (same format and columns)")
    option("text_column_names", help="one or two comma-separated text columns (text classification)")
    option("text_column_name", help="the words column (token classification; default tokens)")
    option("label_column_name", help="the label column (default label; ner_tags for token classification)")
    option("do_regression", action="store_true", help="one float label: mean squared error")
    option("ignore_mismatched_sizes", action="store_true", help="replace a classifier of another size")
    option("max_seq_length", type=positive_int, default=128, help="truncate to this many tokens (default 128)")
    option("num_train_epochs", type=non_negative(float), default=3.0, help="default 3")
    option("max_steps", type=int, default=-1, help="optimizer steps in all (overrides --num_train_epochs)")
    option("per_device_train_batch_size", "--batch_size", type=positive_int, default=8, help="default 8")
    option("per_device_eval_batch_size", type=positive_int, default=8, help="default 8")
    option("learning_rate", type=non_negative(float), default=5e-5, help="peak learning rate (default 5e-5)")
    option("warmup_steps", type=non_negative(float), default=0, help="warmup steps; a value < 1 is a ratio")
    option("warmup_ratio", type=non_negative(float), default=0.0, help="warmup as a fraction of all steps")
    option("weight_decay", type=non_negative(float), default=0.0, help="AdamW's (not on biases, LayerNorms)")
    option("adam_beta1", type=float, default=0.9)
    option("adam_beta2", type=float, default=0.999)
    option("adam_epsilon", type=non_negative(float), default=1e-8)
    option("max_grad_norm", type=non_negative(float), default=1.0, help="clip gradients to this norm (0: off)")
    option("gradient_accumulation_steps", type=positive_int, default=1)
    option("seed", type=int, default=42, help="data order, dropout and new weights (default 42)")
    option("save_steps", type=int, default=0, help="also save a checkpoint every N steps (0: each epoch only)")
    option("save_total_limit", type=positive_int, default=None, help="keep only the newest N checkpoints")
    option("output_dir", required=True, help="where the model, tokenizer, config and checkpoints go")
    option("resume_from_checkpoint", nargs="?", const="", default=None, metavar="DIR",
           help="continue from DIR, or without DIR from the last checkpoint in --output_dir")
    option("quiet", action="store_true", help="no progress on stderr")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.task == TOKEN_CLASSIFICATION and args.do_regression:
        parser.error("--do_regression is for text classification")
    if args.max_steps <= 0 and args.num_train_epochs <= 0:
        parser.error("give --num_train_epochs > 0 or --max_steps > 0")
    metrics = finetune(args)
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        print("\n".join(f"{k}: {v}" for k, v in metrics.items()))


if __name__ == "__main__":
    cli.run(main)
