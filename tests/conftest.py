"""Fixtures shared by the three tiers of tests.

``tests/unit``: one module at a time, no recipe runs (the quick tier:
``pytest tests/unit tests/consistency speechbrain_emoinv``). ``tests/integration``: recipe runs, CLIs, exports,
corpora and the contracts between parts. ``tests/consistency``: configs,
imports and packaging agree with the code. Helpers that only tests use
(``toy``, ``recipe_utils``, ``fake_corpora``) live in ``tests/`` (on the
path through pyproject's ``pythonpath``).
"""

import pytest
import torch
from toy import make_toy_data, make_toy_model


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One intra-op thread for the whole session, set once here (CI has 2
    cores and the recipes run beside the tests) and restored at the end."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    """A toy prepared folder: 2 training and 2 evaluation speakers, 2
    sentences in 3 emotions. Read-only: tests that change it copy it."""
    root = tmp_path_factory.mktemp("toy_data")
    return make_toy_data(root / "d", n_train=2, n_eval=2, n_sentences=2)


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory):
    """A toy exported folder (random tiny ECAPA-TDNN, threshold 0.5).
    Read-only: tests that change it copy it."""
    root = tmp_path_factory.mktemp("toy_model")
    return make_toy_model(root / "m", threshold=0.5)
