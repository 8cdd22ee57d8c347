"""Shared test settings and fixtures. Under CI (CI=true) hypothesis runs derandomized, so a red build is
reproducible."""
import os
import shutil

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def vocab_dir(tmp_path_factory):
    """A directory holding the shipped vocabulary as vocab.txt, like the official repos."""
    from squeezebert_np.tokenization_base import default_vocab_file
    directory = tmp_path_factory.mktemp("vocab")
    shutil.copy(default_vocab_file(), directory / "vocab.txt")
    return directory


@pytest.fixture(scope="session")
def hf(vocab_dir):
    """transformers' BertTokenizer (Rust-backed, what AutoTokenizer gives for the SqueezeBERT repos) on it."""
    from tokenizer_reference import transformers_tokenizer
    return transformers_tokenizer(vocab_dir)


@pytest.fixture(scope="session")
def fast():
    """SqueezeBertTokenizerFast on the shipped vocabulary (its piece cache fills as the tests run)."""
    from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast
    return SqueezeBertTokenizerFast()


@pytest.fixture(scope="session")
def slow():
    """The readable SqueezeBertTokenizer on the shipped vocabulary."""
    from squeezebert_np.tokenization import SqueezeBertTokenizer
    return SqueezeBertTokenizer()
