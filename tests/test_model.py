"""SqueezeBertModel's call: inputs it accepts, every bad input refused clearly, and properties users rely on."""
import os
import subprocess
import sys

import numpy as np
import pytest

from squeezebert_np import InvalidInputError, SqueezeBertConfig, SqueezeBertModel
from squeezebert_np.synthetic import synthetic_state_dict

from numerics import assert_close, stages

CONFIG = SqueezeBertConfig(vocab_size=50, hidden_size=16, embedding_size=16, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=20,
                           q_groups=2, k_groups=2, v_groups=2, post_attention_groups=1, intermediate_groups=2,
                           output_groups=2)
MODEL = SqueezeBertModel(CONFIG, synthetic_state_dict(CONFIG, SqueezeBertModel, seed=3))
IDS = np.array([[5, 6, 7, 8], [9, 10, 11, 0]])


def test_outputs_shapes_and_dtype():
    out = MODEL(IDS, output_hidden_states=True, output_attentions=True)
    assert out.last_hidden_state.shape == (2, 4, 16) and out.last_hidden_state.dtype == np.float32
    assert out.pooler_output.shape == (2, 16) and out.pooler_output.dtype == np.float32
    assert len(out.hidden_states) == 3 and all(h.shape == (2, 4, 16) for h in out.hidden_states)
    assert np.array_equal(out.hidden_states[-1], out.last_hidden_state)
    assert len(out.attentions) == 2 and all(a.shape == (2, 2, 4, 4) for a in out.attentions)
    assert MODEL(IDS).hidden_states is None and MODEL(IDS).attentions is None


def test_nested_lists_and_tuple_output():
    a = MODEL(IDS.tolist(), attention_mask=[[1, 1, 1, 1], [1, 1, 1, 0]])
    b = MODEL(IDS, attention_mask=np.array([[1, 1, 1, 1], [1, 1, 1, 0]]))
    assert np.array_equal(a.last_hidden_state, b.last_hidden_state)
    t = MODEL(IDS, return_dict=False)
    assert isinstance(t, tuple) and len(t) == 2 and np.array_equal(t[0], MODEL(IDS)[0])
    assert np.array_equal(MODEL(IDS)["pooler_output"], t[1])


def test_padded_batch_equals_unpadded_runs():
    """Users' commonest worry (transformers #3150): a padded batch gives each sequence's own answer on its tokens."""
    seqs = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
    w = max(map(len, seqs))
    ids = np.array([s + [0] * (w - len(s)) for s in seqs])
    mask = np.array([[1] * len(s) + [0] * (w - len(s)) for s in seqs])
    batched = MODEL(ids, attention_mask=mask)
    for i, s in enumerate(seqs):
        alone = MODEL([s])
        layers = CONFIG.num_hidden_layers      # alone or in a batch: other summation orders, both float32
        assert_close(batched.last_hidden_state[i, :len(s)], alone.last_hidden_state[0],
                     stages("last_hidden_state", 0, layers), "last_hidden_state")
        assert_close(batched.pooler_output[i], alone.pooler_output[0], stages("pooler_output", 0, layers), "pooler")


def test_inputs_embeds_equals_input_ids():
    embeds = MODEL.embeddings.word_embeddings.weight[IDS]
    assert np.array_equal(MODEL(inputs_embeds=embeds).last_hidden_state, MODEL(IDS).last_hidden_state)


def test_float_mask_values_follow_transformers_v5():
    """A 2-D mask is cast to bool: any non-zero value attends (0.5 and 2 act like 1)."""
    a = MODEL(IDS, attention_mask=[[1, 1, 0, 1], [1, 1, 1, 1]]).last_hidden_state
    b = MODEL(IDS, attention_mask=[[0.5, 2.0, 0.0, 1.0], [1, 1, 1, 1]]).last_hidden_state
    assert np.array_equal(a, b)


@pytest.mark.parametrize("kwargs,message", [
    (dict(input_ids=[[5, 50]]), r"input_ids must be in \[0, 50\), found 50"),
    (dict(input_ids=[[5, -1]]), r"input_ids must be in \[0, 50\), found -1"),
    (dict(input_ids=np.zeros((1, 21), int)), r"longer than max_position_embeddings \(20\)"),
    (dict(input_ids=IDS, attention_mask=np.ones((2, 3))), r"attention_mask must have the shape of the input"),
    (dict(input_ids=IDS, token_type_ids=np.zeros((2, 3), int)), r"token_type_ids must have the shape"),
    (dict(inputs_embeds=[[[0.0] * 16], [[0.0] * 15]]), r"inputs_embeds must be a rectangular"),
    (dict(input_ids=IDS, token_type_ids=np.full((2, 4), 2)), r"token_type_ids must be in \[0, 2\)"),
    (dict(input_ids=IDS, position_ids=np.full((2, 4), 20)), r"position_ids must be in \[0, 20\)"),
    (dict(input_ids=IDS.astype(float)), r"input_ids must hold integers, got dtype float64"),
    (dict(input_ids=np.zeros((0, 4), int)), r"batch is empty"),
    (dict(input_ids=np.zeros((2, 0), int)), r"sequences are empty"),
    (dict(input_ids=[5, 6, 7]), r"2-D \[batch, seq\].*wrap a single sequence"),
    (dict(input_ids=[[5, 6], [7]]), r"rectangular"),
    (dict(input_ids=IDS, inputs_embeds=np.zeros((2, 4, 16), np.float32)), r"exactly one of .*got both"),
    (dict(), r"exactly one of .*got neither"),
    (dict(inputs_embeds=np.zeros((2, 4, 8), np.float32)), r"inputs_embeds must be a float array \[batch, seq, 16\]"),
    (dict(input_ids=[["a", "b"]]), r"input_ids must hold integers"),
    (dict(input_ids=[[True, False]]), r"integers, got booleans"),
])
def test_bad_inputs_raise_our_error(kwargs, message):
    with pytest.raises(InvalidInputError, match=message) as e:
        MODEL(**kwargs)
    assert isinstance(e.value, ValueError)


def test_import_and_forward_never_import_torch():
    code = ("import sys\n"
            "for name in ('torch', 'transformers', 'tokenizers', 'huggingface_hub'): sys.modules[name] = None\n"
            "import numpy as np, squeezebert_np\n"
            "from squeezebert_np.synthetic import synthetic_state_dict\n"
            "c = squeezebert_np.SqueezeBertConfig(vocab_size=30, hidden_size=8, embedding_size=8, num_attention_heads=2,"
            " intermediate_size=16, q_groups=2, k_groups=2, v_groups=2, intermediate_groups=2, output_groups=2)\n"
            "m = squeezebert_np.SqueezeBertForMaskedLM(c, synthetic_state_dict(c))\n"
            "print(m([[1, 2, 3]]).logits.shape)\n"
            "assert not any(k.split('.')[0] in ('torch', 'transformers') and v is not None for k, v in sys.modules.items())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stderr
    assert "(1, 3, 30)" in out.stdout
