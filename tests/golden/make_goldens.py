"""Make the golden files: transformers' outputs on deterministic synthetic checkpoints.

    python tests/golden/make_goldens.py          # needs: pip install -e ".[reference]"

For each config below, the weights come from `squeezebert_np.synthetic.synthetic_state_dict(config, seed=SEED)`
(regenerated from the seed by the tests, not stored), are loaded into transformers' PyTorch model with
`load_state_dict(strict=True)` (so the key set is checked against transformers), and transformers' outputs for fixed
inputs are written to `<name>.npz`; `meta.json` records the versions, seeds, configs and inputs' provenance.
"""
import json
import os
import platform
import sys

import numpy as np
import torch
import transformers

import squeezebert_np
from squeezebert_np.synthetic import synthetic_state_dict

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT_VERSION = 1
SEED = 1234

OFFICIAL = json.load(open(os.path.join(HERE, "..", "fixtures", "official", "squeezebert-mnli", "config.json")))
CONFIGS = {
    # the official architecture: squeezebert-mnli's config.json as it is (vocab 30528, 3 labels), full size
    "official": {**{k: v for k, v in OFFICIAL.items() if k != "model_type"}},
    # small configs: other head counts, layer counts, every group count varied, another eps, 512 positions
    "small_a": dict(vocab_size=211, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                    embedding_size=32, max_position_embeddings=512, q_groups=2, k_groups=4, v_groups=1,
                    post_attention_groups=2, intermediate_groups=4, output_groups=2, num_labels=3),
    "small_b": dict(vocab_size=97, hidden_size=48, num_hidden_layers=3, num_attention_heads=6, intermediate_size=96,
                    embedding_size=48, max_position_embeddings=64, type_vocab_size=3, q_groups=3, k_groups=1,
                    v_groups=2, post_attention_groups=4, intermediate_groups=3, output_groups=6,
                    layer_norm_eps=1e-5, num_labels=5),
}
HEADS = ["SqueezeBertModel", "SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification",
         "SqueezeBertForMultipleChoice", "SqueezeBertForTokenClassification", "SqueezeBertForQuestionAnswering"]


def make_inputs(name, cfg, rng):
    """A padded batch with token types, plus (small_a) one full-length 512-token sequence."""
    v, t = cfg["vocab_size"], cfg.get("type_vocab_size", 2)
    n, w = (2, 16) if name == "official" else (3, 11)
    ids = rng.integers(0, v, (n, w))
    mask = np.ones((n, w), np.int64)
    mask[1, w - 5:] = 0                                   # right padding
    if n > 2:
        mask[2, 3:] = 0
    types = np.zeros((n, w), np.int64)
    types[:, w // 2:] = rng.integers(0, t, (n, w - w // 2))
    inputs = {"padded": dict(input_ids=ids, attention_mask=mask, token_type_ids=types)}
    if cfg.get("max_position_embeddings") == 512 and name != "official":
        inputs["long512"] = dict(input_ids=rng.integers(0, v, (1, 512)), attention_mask=np.ones((1, 512), np.int64),
                                 token_type_ids=np.zeros((1, 512), np.int64))
    return inputs


def labels_for(head, cfg, inp, rng):
    """Labels for each head's loss; returns a list of (tag, kwargs, config overrides)."""
    n, w = inp["input_ids"].shape
    k = cfg.get("num_labels", 2)
    if head == "SqueezeBertForMaskedLM":
        labels = rng.integers(0, cfg["vocab_size"], (n, w))
        labels[rng.random((n, w)) < 0.5] = -100
        return [("mlm", dict(labels=labels), {})]
    if head == "SqueezeBertForSequenceClassification":
        return [("single", dict(labels=rng.integers(0, k, n)), {}),
                ("multi", dict(labels=(rng.random((n, k)) < 0.5).astype(np.float32)), {}),
                ("regression", dict(labels=rng.standard_normal(n).astype(np.float32)), {"num_labels": 1})]
    if head == "SqueezeBertForTokenClassification":
        labels = rng.integers(0, k, (n, w))
        labels[inp["attention_mask"] == 0] = -100
        return [("token", dict(labels=labels), {})]
    if head == "SqueezeBertForQuestionAnswering":
        # includes a position past the end (ignored) and a negative one (clamped to 0 and counted)
        start = rng.integers(0, w, n)
        end = rng.integers(0, w, n)
        start[0], end[-1] = w + 3, -2
        return [("qa", dict(start_positions=start, end_positions=end), {"num_labels": 2})]
    if head == "SqueezeBertForMultipleChoice":
        return [("choice", dict(labels=rng.integers(0, 2, n)), {})]
    return [("base", {}, {})]


def run(head, cfg, sd, inputs, extra):
    config = transformers.SqueezeBertConfig(**cfg)
    model = getattr(transformers, head)(config).eval()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)
    args = {k: torch.from_numpy(np.asarray(v)) for k, v in {**inputs, **extra}.items()}
    if head == "SqueezeBertForMultipleChoice":   # two choices per example: the batch, and the batch reversed
        args = {k: (torch.stack([v, v.flip(0)], 1) if k != "labels" else v) for k, v in args.items()}
    with torch.no_grad():
        out = model(**args, output_hidden_states=True, output_attentions=True)
    return {k: (torch.stack(v).numpy() if isinstance(v, tuple) else v.numpy()) for k, v in out.items()}


def main():
    rng = np.random.default_rng(SEED)
    meta = {"format_version": FORMAT_VERSION, "seed": SEED, "torch": torch.__version__,
            "transformers": transformers.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "squeezebert_np_synthetic": "squeezebert_np.synthetic.synthetic_state_dict(config, model_class, seed)",
            "configs": CONFIGS, "files": {}}
    torch.set_num_threads(1)
    for name, cfg in CONFIGS.items():
        arrays = {}
        heads = HEADS if name != "official" else ["SqueezeBertModel", "SqueezeBertForMaskedLM",
                                                   "SqueezeBertForSequenceClassification"]
        for input_name, inp in make_inputs(name, cfg, rng).items():
            for k, v in inp.items():
                arrays[f"{input_name}/input/{k}"] = v
            for head in heads:
                if input_name == "long512" and head != "SqueezeBertModel":
                    continue
                for tag, extra, overrides in labels_for(head, cfg, inp, rng):
                    c = {**cfg, **overrides}
                    sd = synthetic_state_dict(squeezebert_np.SqueezeBertConfig(**c),
                                              getattr(squeezebert_np, head), seed=SEED)
                    out = run(head, c, sd, inp, extra)
                    for k, v in extra.items():
                        arrays[f"{input_name}/{head}/{tag}/label/{k}"] = v
                    for k, v in out.items():
                        if name == "official" and head != "SqueezeBertModel" and k in ("hidden_states", "attentions"):
                            continue                       # same as the base model's; keeps the file small
                        arrays[f"{input_name}/{head}/{tag}/{k}"] = v
                    print(name, input_name, head, tag, {k: v.shape for k, v in out.items()}, file=sys.stderr)
        path = os.path.join(HERE, f"{name}.npz")
        np.savez_compressed(path, **arrays)
        meta["files"][f"{name}.npz"] = sorted(arrays)
    with open(os.path.join(HERE, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
