"""The recipe YAMLs a SpeechBrain maintainer reads: every top-level key is
used (named by a later ``<key>``, or read by the code or by SpeechBrain)
and defined before the first entry that names it — what upstream's
YAML/script consistency test asks of a recipe."""

import pytest
from recipe_utils import ROOT

from tools import flatten_hparams as fh

RECIPE_YAMLS = sorted(fh.RECIPES.values())


@pytest.mark.parametrize("path", RECIPE_YAMLS)
def test_recipe_yaml_keys_used_and_defined_first(path):
    entries, _ = fh.blocks((ROOT / path).read_text(encoding="utf-8"))
    keep = fh.read_by_our_code() | fh.READ_BY_SPEECHBRAIN
    seen, named = set(), set()
    for key, lines in entries:
        later = [r for r in fh.refs(lines) if r != key]
        assert set(later) <= seen, f"{path}: {key} names {set(later) - seen}"
        named.update(later)
        seen.add(key)
    unused = {
        key
        for key, _ in entries
        if key not in named and key not in keep and not key.startswith("__")
    }
    assert not unused, f"{path}: keys nothing uses: {sorted(unused)}"


def comment_above(lines):
    """The comment lines directly above an entry's key (rulers excluded)."""
    at = next(i for i, ln in enumerate(lines) if fh.KEY.match(ln))
    above = []
    for line in reversed(lines[:at]):
        if not line.startswith("#") or line.endswith(" --"):
            break
        above.insert(0, line)
    return above, lines[at]


@pytest.mark.parametrize("source", sorted(fh.RECIPES))
def test_recipe_keys_carry_their_own_comments(source):
    """A key the recipe sets reads as the recipe writes it -- the comment
    above it and its line -- not with the base's comment, which describes
    the base's value (e.g. "the 19 simulated training voices" above ESD's
    ``out_n_neurons: 14``)."""
    own, _ = fh.blocks((ROOT / source).read_text(encoding="utf-8"))
    flat, _ = fh.blocks((ROOT / fh.RECIPES[source]).read_text(encoding="utf-8"))
    flat = dict(flat)
    checked = 0
    for key, lines in own:
        if key in flat:
            assert comment_above(flat[key]) == comment_above(lines), key
            checked += 1
    assert checked > 10
