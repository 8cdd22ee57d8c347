"""The course's exercises (squeezebert_np.exercises): each solution in notebooks/solutions/ passes its checker, the
blank left in the notebook fails it with a message that says what to write, known mistakes are named, and the
checkers' expected values agree with independent references (torch, the Rust WordPiece of `tokenizers`)."""
import ast
import glob
import importlib.util
import os

import numpy as np
import pytest

from squeezebert_np.errors import ExerciseError
from squeezebert_np.exercises import EXERCISES, check, compare_arrays

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLUTIONS = os.path.join(ROOT, "notebooks", "solutions")
NAMES = list(EXERCISES)


def solution(name):
    spec = importlib.util.spec_from_file_location(f"solution_{name}", os.path.join(SOLUTIONS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def blanks():
    """{exercise name: (notebook, the function as the notebook leaves it for the student)}, read from the notebooks."""
    jupytext = pytest.importorskip("jupytext")
    found = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "[0-9][0-9]_*.py"))):
        for cell in jupytext.read(path).cells:
            if cell.cell_type != "code" or "check(" not in cell.source:
                continue
            tree = ast.parse(cell.source)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name in EXERCISES:
                    namespace = {"np": np}
                    exec(compile(ast.Module([node], []), path, "exec"), namespace)     # the def alone, not the check
                    found[node.name] = (os.path.basename(path), namespace[node.name])
    return found


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_passes(name, capsys):
    result = check(name, solution(name))
    assert result.ok, result.message
    assert capsys.readouterr().out.startswith(f"✅ {name}: correct on")


@pytest.mark.parametrize("name", NAMES)
def test_the_blank_in_the_notebook_fails_and_says_what_to_write(name):
    found = blanks()
    assert name in found, f"no notebook poses the exercise {name!r} (a code cell with `def {name}(` and check(...))"
    notebook, blank = found[name]
    result = check(name, blank)
    assert not result.ok
    assert "not written yet" in result.message and EXERCISES[name].signature in result.message, result.message


def test_every_notebook_exercise_is_checked_by_name():
    """A notebook's exercise cell calls check("name", name) with a registered name, and has a solution file."""
    for name in blanks():
        assert os.path.isfile(os.path.join(SOLUTIONS, f"{name}.py")), name


@pytest.mark.parametrize("name,what", [(n, w) for n in NAMES for w, _ in EXERCISES[n].mistakes])
def test_a_known_mistake_is_named(name, what):
    mistake = dict(EXERCISES[name].mistakes)[what]

    expected = EXERCISES[name].cases(np.random.default_rng(0))[0].expected
    dtype = None if isinstance(expected, (list, tuple)) else np.asarray(expected).dtype

    def student(**kwargs):                     # as a student would write it: the expected dtype, lists as they are
        out = mistake(**kwargs)
        return out if dtype is None else dtype.type(out) if np.ndim(out) == 0 else np.asarray(out, dtype)

    result = check(name, student)
    assert not result.ok
    assert f"Hint: that is what {what} gives" in result.message, result.message


# ---- the messages say precisely what is wrong ----

def test_wrong_shape_is_reported_with_both_shapes():
    result = check("layer_norm", lambda x, weight, bias, eps: solution("layer_norm")(x, weight, bias, eps).T)
    assert not result.ok
    assert "returned shape (4,), expected" not in result.message       # case 1 is 1-D: .T changes nothing there
    assert "returned shape (8, 3), expected (3, 8)" in result.message, result.message


def test_float64_with_right_values_is_a_dtype_error():
    result = check("layer_norm", lambda x, weight, bias, eps: solution("layer_norm")(x.astype(np.float64), weight,
                                                                                        bias, eps))
    assert not result.ok and "returned dtype float64, expected float32" in result.message, result.message
    assert "elements are wrong" not in result.message


def test_one_wrong_element_is_located_with_its_error():
    def conv(x, weight, bias, groups):
        y = solution("grouped_conv1x1")(x, weight, bias, groups)
        y[0, 1, 2] += 1e-3
        return y
    result = check("grouped_conv1x1", conv)
    assert "1 of 12 elements are wrong; the worst, [0, 1, 2]" in result.message, result.message
    assert "|difference| 0.001" in result.message and "on case 1 of 6 (x [1, 4, 3] float32" in result.message


def test_changing_an_input_in_place_is_reported():
    def softmax(scores, attention_mask):
        scores -= scores.max(axis=-1, keepdims=True)
        return solution("masked_softmax")(scores, attention_mask)
    result = check("masked_softmax", softmax)
    assert "changed its input scores in place" in result.message, result.message


def test_an_exception_is_reported_with_the_inputs_not_raised():
    result = check("gelu", lambda x: x.reshape(-1, 2))
    assert not result.ok
    assert result.message.startswith("❌ gelu: raised ValueError: cannot reshape"), result.message
    assert "on case 1 of 4 (x [5] float32)" in result.message


def test_returning_none_or_a_list_is_reported():
    assert "returned NoneType, expected a NumPy array" in check("gelu", lambda x: None).message
    assert "expected a list of strings" in check("wordpiece", lambda word, vocab: word).message
    assert "expected a NumPy float32 scalar" in check("cross_entropy", lambda logits, labels: logits).message


def test_an_unknown_exercise_names_the_known_ones():
    with pytest.raises(ExerciseError, match="no exercise named 'layernorm'; the exercises are .*layer_norm"):
        check("layernorm", print)


def test_compare_arrays_tolerates_expected_nan_only_where_expected():
    expected = np.array([1.0, np.nan], np.float32)
    assert compare_arrays(np.array([1.0, np.nan], np.float32), expected, 0.0) is None
    assert "is nan, expected 1" in compare_arrays(np.array([np.nan, np.nan], np.float32), expected, 0.0)


# ---- the expected values are right: implementations from independent libraries pass ----

def test_torch_implementations_pass_the_checkers():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    t = torch.from_numpy

    def layer_norm(x, weight, bias, eps):
        return tf.layer_norm(t(x), x.shape[-1:], t(weight), t(bias), eps).numpy()

    def grouped_conv1x1(x, weight, bias, groups):
        return tf.conv1d(t(x), t(weight), t(bias), groups=groups).numpy()

    def masked_softmax(scores, attention_mask):
        keep = t(attention_mask).bool()[:, None, None, :]
        return torch.softmax(t(scores).masked_fill(~keep, torch.finfo(torch.float32).min), dim=-1).numpy()

    def gelu(x):
        return tf.gelu(t(x)).numpy()

    def cross_entropy(logits, labels):
        return np.float32(tf.cross_entropy(t(logits), t(labels), ignore_index=-100).item())

    def layer_norm_backward(dout, x, weight, eps):              # autograd, float64
        xt, wt, bt = (t(a).requires_grad_() for a in (x, weight, np.zeros_like(weight)))
        (tf.layer_norm(xt, x.shape[-1:], wt, bt, eps) * t(dout)).sum().backward()
        return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()

    def gelu_grad(x):
        xt = t(x).requires_grad_()
        tf.gelu(xt).sum().backward()
        return xt.grad.numpy()

    for fn in (layer_norm, grouped_conv1x1, masked_softmax, gelu, cross_entropy, layer_norm_backward, gelu_grad):
        result = check(fn.__name__, fn)
        assert result.ok, result.message


def test_the_rust_wordpiece_passes_the_checker():
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece
    cache = {}

    def wordpiece(word, vocab):
        key = id(vocab)
        if key not in cache:
            cache[key] = Tokenizer(WordPiece(dict(vocab), unk_token="[UNK]", max_input_chars_per_word=100))
        return cache[key].encode(word, add_special_tokens=False).tokens if word else []

    result = check("wordpiece", wordpiece)
    assert result.ok, result.message
