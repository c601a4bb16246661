#!/usr/bin/env python3
"""Writes the self-contained hparams of ``recipes/<Dataset>/SpeakerRec/``.

Our configs share one file: ``hparams/recipes/<Dataset>.yaml`` lists only
what differs from ``hparams/emoinv.yaml`` (``base:``, see
``speechbrain_emoinv/config.py``). A SpeechBrain user reads a recipe's YAML
whole, so each recipe folder holds the merged file, generated here;
``tests/integration/test_recipes_corpora.py`` fails when one is stale.

Comments follow the file that sets the key: a key the recipe sets reads
with the recipe's comment (the base's describes the base's value), while
a section -- its ruler, and a paragraph set off from the first key by a
blank line -- stays as the base writes it.

Usage::

    python -m tools.flatten_hparams          # (re)write every recipe YAML
    python -m tools.flatten_hparams --check  # exit 1 if one is stale

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import functools
import io
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML
from speechbrain.utils.run_opts import RunOptions

from speechbrain_emoinv.config import base_chain, merged_tree

ROOT = Path(__file__).resolve().parents[1]

# Source config -> generated recipe hparams.
RECIPES = {
    f"hparams/recipes/{name}.yaml": (
        f"recipes/{name}/SpeakerRec/hparams/{stem}.yaml"
    )
    for name, stem in (
        ("ESD", "train_ecapa_emoinv"),
        ("CREMA-D", "train_ecapa_emoinv"),
        ("RAVDESS", "train_ecapa_emoinv"),
        ("Dusha", "train_ecapa_emoinv"),
        ("VoxCeleb", "pretrain_ecapa_emoinv"),
    )
}


def _dumper():
    """Round-trip dumper writing SpeechBrain's style: 4-space mappings,
    ``True`` / ``False`` (yamllint's truthy rule) and explicit ``null``."""
    yaml = YAML()
    yaml.indent(mapping=4, sequence=4, offset=2)
    yaml.width = 4096  # flow lists on one line (wrapped ones lint badly)
    rep = yaml.representer
    rep.add_representer(
        bool,
        lambda r, v: r.represent_scalar(
            "tag:yaml.org,2002:bool", "True" if v else "False"
        ),
    )
    rep.add_representer(
        type(None),
        lambda r, v: r.represent_scalar("tag:yaml.org,2002:null", "null"),
    )
    return yaml


# Top-level keys nobody names with ``<key>`` that are still read: by the
# Brain as run options, and ``sorting`` (``Brain.make_dataloader`` of
# speechbrain==1.1.2 reads ``hparams.sorting``).
READ_BY_SPEECHBRAIN = set(RunOptions().as_dict()) | {"sorting"}
KEY = re.compile(r"^([A-Za-z_]\w*):")


@functools.cache  # the same source files for every recipe
def read_by_our_code():
    """Names the recipe and the package read: quoted (``hparams["x"]``) or
    as attributes (``self.hparams.x``)."""
    files = [ROOT / "train_speaker_embeddings.py"]
    files += sorted((ROOT / "speechbrain_emoinv").rglob("*.py"))
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    quoted = re.findall(r"[\"']([A-Za-z_]\w*)[\"']", text)
    return set(quoted) | set(re.findall(r"hparams\.([A-Za-z_]\w*)", text))


def blocks(text):
    """Top-level entries of a YAML text: a list of (key, lines), each with
    the comments and blank lines above it, and the lines after the last
    entry."""
    out, lines = [], []
    for line in text.splitlines():
        lines.append(line)
        match = KEY.match(line)
        if match:
            out.append([match.group(1), lines])
            lines = []
        elif out and line[:1] in (" ", "\t") and not lines[:-1]:
            out[-1][1] += lines  # the entry's own indented lines
            lines = []
    return out, lines


def as_written(text, sources):
    """Writes each top-level entry of the merged ``text`` as its sources do.

    The round-trip merge leaves a replaced key with the base's comments,
    which describe the base's value. Here a key set by several sources
    takes the comment directly above it, and its lines, from the nearest
    one (a plain mapping merged key by key keeps the merged lines); the
    section around it -- rulers, and paragraphs set off from the key by a
    blank line -- stays the base's. A key set by one source is as written.

    Arguments
    ---------
    text : str
        The merged config as YAML text.
    sources : list of str
        The text of each config of the ``base:`` chain, nearest first.

    Returns
    -------
    str
        The merged config, commented as its sources are.

    Example
    -------
    >>> base = "# -- data --\\n# The section.\\n\\n# 19 voices\\nn: 19\\n"
    >>> base += "m:\\n    a: 1\\n    b: 2\\n"
    >>> row = "base: x.yaml\\nn: 14  # 20 - 6\\nm:\\n    b: 3\\n"
    >>> print(as_written("n: 14\\nm:\\n    a: 1\\n    b: 3\\n", [row, base]))
    # -- data --
    # The section.
    <BLANKLINE>
    n: 14  # 20 - 6
    m:
        a: 1
        b: 3
    <BLANKLINE>
    """
    entries, tail = blocks(text)
    written = [dict(blocks(src)[0]) for src in sources]
    ruler = re.compile(r"# -+ [\w ,]+ --")

    def parts(lines):  # (section lines, the key's own comment, the entry)
        at = next(i for i, ln in enumerate(lines) if KEY.match(ln))
        cut = max((i + 1 for i in range(at) if not lines[i]), default=0)
        rulers = [ln for ln in lines[cut:at] if ruler.fullmatch(ln)]
        own = [ln for ln in lines[cut:at] if not ruler.fullmatch(ln)]
        return lines[:cut] + rulers, own, lines[at:]

    out = []
    for key, lines in entries:
        defs = [w[key] for w in written if key in w]
        section, comment, entry = parts(defs[0])
        if len(defs) > 1:  # a section is the base's, a key's comment its own
            section = parts(defs[-1])[0]
            if re.fullmatch(rf"{key}:\s*(#.*)?", entry[0]):  # merged mapping
                entry = parts(lines)[2]
        out += section + comment + entry
    return "\n".join(out + tail) + "\n"


def refs(lines):
    """Keys that ``!ref`` / ``!copy`` lines name (``<key>``, ``<key[i]>``)."""
    code = [
        ln.split(" #")[0] for ln in lines if not ln.lstrip().startswith("#")
    ]
    return re.findall(r"<([A-Za-z_]\w*)", "\n".join(code))


def tidy(text, keep):
    """Drops the top-level keys that nothing uses (no ``<key>`` in the
    file, not in ``keep``; with their comments) and moves every key above
    the first entry that names it, so upstream's YAML/script consistency
    test reads each ``!ref`` target before its use.

    Example
    -------
    >>> print(tidy("a: !ref <b>\\n# b's note\\nb: 1\\nc: 2\\n", {"a"}))
    # b's note
    b: 1
    a: !ref <b>
    <BLANKLINE>
    """
    entries, tail = blocks(text)
    named = {k for key, lines in entries for k in refs(lines) if k != key}
    entries = [
        (key, lines)
        for key, lines in entries
        if key in named or key in keep or key.startswith("__")
    ]
    by_key = dict(entries)
    done, out = set(), []

    def emit(key):
        if key in done or key not in by_key:
            return
        done.add(key)
        for ref in refs(by_key[key]):
            emit(ref)
        out.extend(by_key[key])

    for key, _ in entries:
        emit(key)
    return "\n".join(out + tail) + "\n"


def split_head(path):
    """A YAML file's leading comment lines, and the text after them."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    n = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    return lines[:n], "\n".join(lines[n:])


def flatten(source):
    """The generated text of one recipe YAML.

    Arguments
    ---------
    source : str
        Config path relative to the repository root.

    Returns
    -------
    str
        Header (the source's own leading comment and where the file comes
        from), then the merged config.
    """
    path = ROOT / source
    # each file's own header (its leading comment) describes that file
    files = [split_head(p) for p, _ in base_chain(path)]
    head = files[0][0]
    stream = io.StringIO()
    _dumper().dump(merged_tree(path), stream)
    body = as_written(stream.getvalue(), [text for _, text in files])
    body = tidy(body, read_by_our_code() | READ_BY_SPEECHBRAIN)
    body = re.sub(r"\n{3,}", "\n\n", body).lstrip("\n")
    note = [
        "#",
        "# GENERATED by tools/flatten_hparams.py from",
        f"# {source} and the configs it names as base:",
        "# edit those and rerun the tool (a test checks this file).",
    ]
    if head and set(head[-1]) == {"#"}:  # keep the closing ruler last
        head = head[:-1] + note + head[-1:]
    else:
        head += note
    return "\n".join(head) + "\n\n" + body


def main(argv=None):
    """Writes (or with ``--check`` compares) every recipe YAML."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for source, target in RECIPES.items():
        text = flatten(source)
        out = ROOT / target
        if args.check:
            if not out.is_file() or out.read_text(encoding="utf-8") != text:
                stale.append(target)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(target)
    if stale:
        print(
            "stale (run python -m tools.flatten_hparams): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
