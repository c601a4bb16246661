"""README's commands are the ones the suite and CI run.

* "Quick start": the test command is ``bash tools/test.sh``, the command
  ``.ci/run`` runs after the lint.
* "Your own corpus": the tiny CPU command is the ESD row of
  ``tests/recipes/ESD.csv`` as SpeechBrain's recipe-test runner composes
  it (script, config, the row's ``test_debug_flags``, ``--device=cpu``
  and an output folder), which
  ``test_recipes_corpora.py::test_recipe_row`` runs on the same sample
  corpus. A README command that differs from the row, and so is not run
  by the suite, fails here; nothing is trained in this file.
"""

import csv
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def section(title):
    """Text of README's ``## title`` section, up to the next ``## ``."""
    text = README.read_text(encoding="utf-8")
    head = f"\n## {title}\n"
    assert head in text, f"README has no section {title!r}"
    return text.split(head, 1)[1].split("\n## ", 1)[0]


def command(text, start):
    """argv of the indented command block line that begins with ``start``
    (``\\`` continuations joined)."""
    lines = text.splitlines()
    first = [i for i, ln in enumerate(lines) if ln.startswith("    " + start)]
    assert len(first) == 1, f"need one command starting {start!r}"
    words = []
    for line in lines[first[0] :]:
        body = line.strip()
        words.append(body.removesuffix("\\"))
        if not body.endswith("\\"):
            break
    return shlex.split(" ".join(words))


def esd_row():
    """The one row of ``tests/recipes/ESD.csv``."""
    path = ROOT / "tests" / "recipes" / "ESD.csv"
    with open(path, newline="", encoding="utf-8") as f:
        (row,) = csv.DictReader(f)
    return row


def test_quick_start_test_command_is_what_ci_runs():
    quick = section("Quick start (fresh Debian machine, as root)")
    assert command(quick, "bash tools/test.sh") == ["bash", "tools/test.sh"]
    main = command(quick, "bash tools/install.sh")
    assert main[-3:] == [
        ".venv/bin/python",
        "train_speaker_embeddings.py",
        "hparams/emoinv.yaml",
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert ci[-1] == "bash tools/test.sh"


def test_own_corpus_cpu_command_is_the_esd_recipe_test():
    own = section("Your own corpus")
    argv = command(own, "python recipes/ESD/SpeakerRec/train_emoinv.py")
    out = [a for a in argv if a.startswith("--output_folder=")]
    assert len(out) == 1 and out[0] != "--output_folder=", argv
    row = esd_row()
    want = [
        "python",
        row["Script_file"],
        row["Hparam_file"],
        *shlex.split(row["test_debug_flags"]),
        "--device=cpu",
    ]
    assert [a for a in argv if a not in out] == want
    # The sample corpus the row reads is the one README names.
    assert "--data_folder=tests/samples/ESD" in argv
    assert (ROOT / "tests" / "samples" / "ESD").is_dir()
    # The section points to the contracts of a corpus in another layout.
    assert "docs/interfaces.md" in own
