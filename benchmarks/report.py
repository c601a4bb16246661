"""Markdown of the benchmark summaries: cells and tables.

Authors
 * speechbrain-emoinv contributors 2026
"""


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
