"""squeezebert_np.course: the notebooks find the repository from the package, and draw the architecture from a
model; the drawing's groups and parameter counts agree with transformers' own model."""
import os
import re

import pytest

from squeezebert_np import (SqueezeBertConfig, SqueezeBertForMaskedLM, SqueezeBertForSequenceClassification,
                            SqueezeBertModel, course)
from squeezebert_np.errors import CourseError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL = dict(vocab_size=100, hidden_size=32, embedding_size=32, num_hidden_layers=3, num_attention_heads=4,
             intermediate_size=64, q_groups=2, k_groups=4, v_groups=1, post_attention_groups=1,
             intermediate_groups=2, output_groups=4)


def test_the_repository_is_found_from_the_package_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert os.path.samefile(course.repository(), ROOT)
    assert os.path.isfile(course.repo_path("tests", "golden", "meta.json"))


def test_an_installed_copy_without_the_repository_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(course, "_MARKERS", ("no-such-folder",))
    with pytest.raises(CourseError, match=r"not a checkout .*pip install -e \."):
        course.repository()


def test_weights_dir_and_official(tmp_path, monkeypatch):
    monkeypatch.delenv("SQUEEZEBERT_DIR", raising=False)
    assert course.weights_dir() == os.path.join(course.repository(), "weights")
    monkeypatch.setenv("SQUEEZEBERT_DIR", str(tmp_path))
    assert course.official("squeezebert-uncased") is None
    (tmp_path / "squeezebert-uncased").mkdir()
    assert course.official("squeezebert-uncased") == str(tmp_path / "squeezebert-uncased")


def test_the_architecture_lists_every_conv_with_its_groups_and_shapes():
    config = SqueezeBertConfig(**SMALL)
    text = course.architecture(SqueezeBertModel(config), batch=2, length=7)
    convs = re.findall(r"(query|key|value|conv1d): Conv1d (\d+)->(\d+) groups=(\d+)  \[2, \d+, 7\] -> \[2, (\d+), 7\]",
                       text)
    assert [(name, int(g)) for name, _, _, g, _ in convs] == [
        ("query", 2), ("key", 4), ("value", 1), ("conv1d", 1), ("conv1d", 2), ("conv1d", 4)]
    assert [(int(i), int(o)) for _, i, o, _, _ in convs][-2:] == [(32, 64), (64, 32)]
    assert "layers[0 .. 2]: SqueezeBertModule  (x 3" in text and "(4 heads, [2, 4, 7, 7] scores)" in text
    assert "layers.1" not in text and "1: SqueezeBertModule" not in text       # layer 0 stands for the others


@pytest.mark.parametrize("ours,theirs", [(SqueezeBertModel, "SqueezeBertModel"),
                                         (SqueezeBertForSequenceClassification,
                                          "SqueezeBertForSequenceClassification"),
                                         (SqueezeBertForMaskedLM, "SqueezeBertForMaskedLM")])
def test_the_parameter_counts_equal_transformers(ours, theirs):
    """The title's total and each drawn module's count, against torch's numel over transformers' parameters (which
    counts the MLM decoder's weight, tied to the word embeddings, once)."""
    transformers = pytest.importorskip("transformers")
    config = SqueezeBertConfig(**SMALL)
    text = course.architecture(ours(config))
    hf = getattr(transformers, theirs)(transformers.SqueezeBertConfig(**SMALL))
    total = sum(p.numel() for p in hf.parameters())
    assert text.splitlines()[0].endswith(f"  {total:,} parameters"), (text.splitlines()[0], total)
    query = dict(hf.named_modules())[("transformer." if theirs != "SqueezeBertModel" else "")
                                     + "encoder.layers.0.attention.query"]
    assert f"  {sum(p.numel() for p in query.parameters()):,}" in [line[line.rindex("  "):]
                                                                     for line in text.splitlines()
                                                                     if line.strip().startswith("query:")]
