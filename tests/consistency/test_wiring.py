"""How the configs and the recipe wire the method.

The ablation rows are compared with the full method after resolving their
``base:`` chain: the set of settings that differ, and their values, must be
exactly the row's switches (paths under ``results/<experiment>/`` count as
equal; objects are compared by their plain attributes).
"""

import functools

import pytest
import torch
from recipe_utils import ROOT

from speechbrain_emoinv.config import load_config

PLAIN = (bool, int, float, str, type(None))


def plain(value, experiment, depth=0):
    """A comparable description of a resolved setting."""
    if isinstance(value, str):
        return value.replace(f"/{experiment}/", "/emoinv/")
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, list | tuple):
        return [plain(v, experiment, depth) for v in value]
    if isinstance(value, dict):
        return {k: plain(v, experiment, depth) for k, v in value.items()}
    if isinstance(value, functools.partial):
        return (value.func.__qualname__, plain(value.keywords, experiment))
    if isinstance(value, torch.Tensor):
        return value.tolist()
    name = type(value).__qualname__
    if depth > 0 or not hasattr(value, "__dict__"):
        return name
    attrs = {
        k: plain(v, experiment, depth + 1)
        for k, v in vars(value).items()
        if not k.startswith("_") and not callable(v)
    }
    return (name, attrs)


def resolved_differences(name):
    """{key: row value} of every setting where ``name`` differs from the
    full method."""
    full, _ = load_config(str(ROOT / "hparams" / "emoinv.yaml"))
    row, _ = load_config(str(ROOT / "hparams" / f"{name}.yaml"))
    assert row.keys() == full.keys(), row.keys() ^ full.keys()
    return {
        key: plain(row[key], name)
        for key in full
        if plain(row[key], name) != plain(full[key], "emoinv")
    }


def erl(pair_weight):
    """The described ERL loss of the full method with another weight."""
    full, _ = load_config(str(ROOT / "hparams" / "emoinv.yaml"))
    desc = plain(full["compute_cost"], "emoinv")
    return (desc[0], dict(desc[1], pair_weight=pair_weight))


SPAN = {"training": True, "span_ratio": [0.3, 0.7], "min_samples": 1600}


def test_full_method_switches():
    full, _ = load_config(str(ROOT / "hparams" / "emoinv.yaml"))
    assert full["use_pairs"] and full["use_em"] and full["use_augment"]
    assert full["pair_weight"] == full["compute_cost"].pair_weight == 0.3


@pytest.mark.parametrize(
    "name, changes",
    [
        ("baseline", {"use_pairs": False}),
        (
            "baseline_equal_budget",
            {
                "copypaste": ("CopyPaste", {"mode": "anchor", **SPAN}),
                "pair_weight": 0.0,
                "use_em": False,
                "compute_cost": erl(0.0),
            },
        ),
        (
            "ablation_copypaste",
            {"pair_weight": 0.0, "use_em": False, "compute_cost": erl(0.0)},
        ),
        ("ablation_copypaste_erl", {"use_em": False}),
        ("ablation_no_augment", {"use_augment": False}),
        ("baseline_no_augment", {"use_pairs": False, "use_augment": False}),
    ],
)
def test_ablation_rows_differ_exactly_in_their_switches(name, changes):
    assert resolved_differences(name) == {"experiment": name, **changes}
