"""Markdown of the benchmark summaries: cells and tables.

Authors
 * speechbrain-emoinv contributors 2026
"""

import json


def fmt(stat, digits=2, sign=False):
    """``mean ± std`` (or the single value) of a ``stats.describe`` dict.

    Example
    -------
    >>> fmt({"mean": 1.234, "std": 0.5, "n": 2}), fmt({"n": 0})
    ('1.23 ± 0.50', '–')
    >>> fmt({"mean": 1.0, "std": None, "n": 1}, 1, sign=True)
    '+1.0'
    """
    if not stat or stat["n"] == 0:
        return "–"
    spec = f"{'+' if sign else ''}.{digits}f"
    text = format(stat["mean"], spec)
    if stat["std"] is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


def interval_text(change):
    """``-12.3 % [-20.1, -3.2]`` (the interval only with 2+ seeds).

    Example
    -------
    >>> interval_text({"point": -12.34, "lo": -20.1, "hi": -3.2})
    '-12.3 % [-20.1, -3.2]'
    """
    text = f"{change['point']:+.1f} %"
    if "lo" in change:
        text += f" [{change['lo']:+.1f}, {change['hi']:+.1f}]"
    return text


def markdown_table(head, rows):
    """Lines of a Markdown table: the header, its rule, one line per row
    (each a list of cells).

    Example
    -------
    >>> print("\\n".join(markdown_table(["a", "b"], [[1, "x"]])))
    | a | b |
    |---|---|
    | 1 | x |
    """
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(map(str, row)) + " |" for row in rows),
    ]


def write_summary(folder, summary, render):
    """Writes ``summary.json`` and its Markdown ``summary.md`` (``render``:
    summary -> text) into ``folder``; returns the Markdown.

    Example
    -------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r"
    >>> write_summary(out, {"a": 1}, lambda s: f"a = {s['a']}")
    'a = 1'
    >>> sorted(p.name for p in out.iterdir())
    ['summary.json', 'summary.md']
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    markdown = render(summary)
    (folder / "summary.md").write_text(markdown)
    return markdown
