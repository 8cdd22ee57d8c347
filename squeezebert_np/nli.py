"""Natural-language inference and zero-shot classification with squeezebert-mnli.

    python -m squeezebert_np.nli "A man is playing a guitar." "A person makes music."
    python -m squeezebert_np.nli --zero-shot "The team won the cup final." --labels sports,politics,cooking

Zero-shot classification is transformers' ZeroShotClassificationPipeline: each candidate label becomes the
hypothesis "This example is {label}." for the text as premise; the entailment logits, softmaxed over the labels,
score them (or, with multi_label, each label's entailment against its contradiction logit).

The MNLI label order. squeezebert-mnli's config.json says only num_labels=3 (LABEL_0..2): the order is not
recorded in the checkpoint. We use ("contradiction", "entailment", "neutral"), the order of transformers'
GLUE MnliProcessor.get_labels(), because everything about the checkpoint points to transformers' run_glue.py of
September 2020: that script built exactly such a config (num_labels=3, no id2label) and trained on
MnliProcessor's label ids. A third-party table (transformers issue #10386) claims (entailment, neutral,
contradiction) instead; neither has been checked against the real weights here (the hub is out of reach). Pass
`label_names` (CLI: --label-order) to override; a config whose id2label holds real names is used as it is.
"""
import argparse
import json
import sys

import numpy as np

from . import cli
from . import functional as F
from .errors import ConfigError, InvalidInputError, TokenizerError
from .heads import SqueezeBertForSequenceClassification
from .tokenization_fast import SqueezeBertTokenizerFast

MNLI_LABELS = ("contradiction", "entailment", "neutral")
DEFAULT_TEMPLATE = "This example is {}."

EXAMPLES = """examples:
  python -m squeezebert_np.nli "A man is playing a guitar." "A person makes music."
  python -m squeezebert_np.nli --zero-shot "The team won the cup final." --labels sports,politics,cooking
  python -m squeezebert_np.nli --zero-shot "I love pasta and elections." --labels food,politics --multi-label
  python -m squeezebert_np.nli --label-order entailment,neutral,contradiction "premise" "hypothesis"
"""


def label_names_for(config, label_names=None):
    """The name of each output class: given names, else the config's if they are real, else MNLI_LABELS."""
    if label_names is not None:
        names = tuple(label_names)
    elif any(not str(name).startswith("LABEL_") for name in config.id2label.values()):
        if sorted(config.id2label) != list(range(config.num_labels)):
            raise ConfigError(f"the config's id2label has the keys {sorted(config.id2label)!r:.80}, expected "
                              f"0..{config.num_labels - 1}: one name per output class")
        names = tuple(config.id2label[i] for i in range(config.num_labels))
    else:
        names = MNLI_LABELS
    if len(names) != config.num_labels:
        raise InvalidInputError(f"{len(names)} label names given for a model with {config.num_labels} classes")
    if "entailment" not in [n.lower() for n in names]:
        raise InvalidInputError(f"the label names {names} have no 'entailment'")
    return names


def pair_logits(model, tokenizer, premises, hypotheses):
    """Logits [N, num_labels] for (premise, hypothesis) pairs, truncating premises to fit (as the pipeline does)."""
    limit = model.config.max_position_embeddings
    try:
        enc = tokenizer(list(premises), list(hypotheses), padding=True, truncation="only_first", max_length=limit,
                        return_tensors="np")
    except TokenizerError:
        raise InvalidInputError(f"the hypothesis alone is too long: premise and hypothesis must fit in {limit} "
                                "tokens, and only the premise is truncated") from None
    full = tokenizer(list(premises), list(hypotheses), verbose=False)["input_ids"]  # warned about below
    if any(len(ids) > limit for ids in full):
        print(f"warning: a premise was truncated to fit {limit} tokens", file=sys.stderr)
    return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                 token_type_ids=enc["token_type_ids"]).logits


def nli(premise, hypothesis, model=cli.DEFAULT_NLI_MODEL, *, label_names=None, revision=None, cache_dir=None,
        local_files_only=False, token=None):
    """{label: probability} for one (premise, hypothesis) pair, in the model's class order."""
    for name, value in (("premise", premise), ("hypothesis", hypothesis)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(f"{name} must be a non-empty string")
    clf, tokenizer = cli.load(SqueezeBertForSequenceClassification, SqueezeBertTokenizerFast, model, revision,
                              cache_dir, local_files_only, token)
    names = label_names_for(clf.config, label_names)
    probs = F.softmax(pair_logits(clf, tokenizer, [premise], [hypothesis]), axis=-1)[0]
    return {name: float(p) for name, p in zip(names, probs)}


def zero_shot(text, candidate_labels, model=cli.DEFAULT_NLI_MODEL, *, hypothesis_template=DEFAULT_TEMPLATE,
              multi_label=False, label_names=None, revision=None, cache_dir=None, local_files_only=False,
              token=None):
    """transformers' zero-shot-classification: {"sequence", "labels", "scores"}, labels sorted by score."""
    if isinstance(candidate_labels, str):
        candidate_labels = [label.strip() for label in candidate_labels.split(",")]
    candidate_labels = [label for label in candidate_labels if isinstance(label, str) and label.strip()]
    if not candidate_labels:
        raise InvalidInputError("give at least one candidate label")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("the text to classify must be a non-empty string")
    if not isinstance(hypothesis_template, str):
        raise InvalidInputError(f"the hypothesis template must be a string, got {type(hypothesis_template).__name__}")
    try:                               # the pipeline's test: formatting with the label must change the template
        formats = hypothesis_template.format("x") != hypothesis_template
    except (IndexError, KeyError, ValueError, AttributeError, TypeError) as e:  # "{1}", "{x}", "{", "{0.foo}"
        raise InvalidInputError(f"the hypothesis template {hypothesis_template!r} does not format: {e}") from None
    if not formats:
        raise InvalidInputError(f"the hypothesis template must contain {{}} for the label: {hypothesis_template!r}")
    clf, tokenizer = cli.load(SqueezeBertForSequenceClassification, SqueezeBertTokenizerFast, model, revision,
                              cache_dir, local_files_only, token)
    names = [n.lower() for n in label_names_for(clf.config, label_names)]
    entailment = names.index("entailment")
    contradiction = -1 if entailment == 0 else 0        # the pipeline's own assumption, kept for parity
    logits = pair_logits(clf, tokenizer, [text] * len(candidate_labels),
                         [hypothesis_template.format(label) for label in candidate_labels])   # [L, 3]
    if multi_label or len(candidate_labels) == 1:
        scores = F.softmax(logits[:, [contradiction, entailment]], axis=-1)[:, 1]
    else:
        scores = F.softmax(logits[:, entailment], axis=-1)
    order = np.argsort(-scores, kind="stable")
    return {"sequence": text, "labels": [candidate_labels[i] for i in order],
            "scores": [float(scores[i]) for i in order]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m squeezebert_np.nli", description=__doc__.split("\n\n")[0],
                                     epilog=EXAMPLES, formatter_class=cli.HelpFormatter)
    parser.add_argument("pair", nargs="*", metavar="PREMISE HYPOTHESIS", help="a premise and a hypothesis")
    parser.add_argument("--zero-shot", metavar="TEXT", help="classify TEXT into --labels instead")
    parser.add_argument("--labels", help="comma-separated candidate labels for --zero-shot")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE, help=f"hypothesis template (default {DEFAULT_TEMPLATE!r})")
    parser.add_argument("--multi-label", action="store_true", help="score each label on its own (zero-shot)")
    parser.add_argument("--label-order", help=f"the model's class names in order (default {','.join(MNLI_LABELS)})")
    cli.add_model_options(parser, cli.DEFAULT_NLI_MODEL)
    args = parser.parse_args(argv)
    for what in ("pair", "zero_shot", "labels", "template", "label_order"):
        value = getattr(args, what)
        for text in value if isinstance(value, list) else [value] if value is not None else []:
            cli.check_text(text, what.replace("_", "-"))
    where = dict(revision=args.revision, cache_dir=args.cache_dir, local_files_only=args.offline, token=args.token,
                 label_names=args.label_order.split(",") if args.label_order else None)
    if args.zero_shot is not None:
        if args.pair:
            parser.error("give either PREMISE HYPOTHESIS or --zero-shot TEXT, not both")
        if not args.labels or not args.labels.strip(" ,"):
            parser.error("--zero-shot needs --labels with at least one label")
        result = zero_shot(args.zero_shot, args.labels, args.model, hypothesis_template=args.template,
                           multi_label=args.multi_label, **where)
        rows = list(zip(result["labels"], result["scores"]))
    else:
        if len(args.pair) != 2:
            parser.error("give a PREMISE and a HYPOTHESIS (two arguments), or --zero-shot TEXT --labels ...")
        result = nli(args.pair[0], args.pair[1], args.model, **where)
        rows = sorted(result.items(), key=lambda kv: -kv[1])
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        width = max(len(label) for label, _ in rows)
        print("\n".join(f"{label:<{width}}  {score:.4f}" for label, score in rows))


if __name__ == "__main__":
    cli.run(main)
