"""``tools/mutation_check.py`` stays runnable: every planted bug still
finds the code it changes, and the tests it names exist. (The check itself
is too long for CI; a stale entry would otherwise surface only when someone
runs it.)"""

import re

import pytest

from tools.mutation_check import MUTANTS, ROOT


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_planted_bug_still_applies(mutant):
    text = (ROOT / mutant.path).read_text()
    assert text.count(mutant.old) == 1, (
        f"{mutant.name}: the code it changes occurs {text.count(mutant.old)} "
        f"times in {mutant.path}; update MUTANTS"
    )
    for test in mutant.tests:
        path, *names = test.split("::")
        assert (ROOT / path).is_file(), test
        # each ``::`` part (class, function; a ``[param]`` id dropped) is
        # defined in that file
        source = (ROOT / path).read_text()
        for name in names:
            name = re.escape(name.split("[")[0])
            assert re.search(rf"^\s*(def|class) {name}\b", source, re.M), test
