"""Evaluation figures (matplotlib, Agg backend, PNG, fixed file names).

- ``det.png``: DET curves of all lists, normal-deviate axes;
- ``score_hist.png``: target / non-target histograms per emotion pair;
- ``eer_matrix.png``: enrolment x test emotion EER heat map;
- ``embeddings_2d.png``: t-SNE (or PCA) of evaluation embeddings,
  colour = speaker, marker = emotion.

Authors
 * speechbrain-emoinv contributors 2025
"""

from pathlib import Path

import numpy as np

from speechbrain_emoinv.evaluation.report import list_order
from speechbrain_emoinv.metrics import det_curve

DET_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6]
MARKERS = "o^sDvP*XhP<>"


def _plt():
    import logging

    import matplotlib

    matplotlib.use("Agg")
    # Its font search logs hundreds of DEBUG lines into the run's log.txt.
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib.pyplot as plt

    return plt


def plot_det(curves, path):
    """DET curves on normal-deviate axes.

    Arguments
    ---------
    curves : dict
        ``{label: (scores, labels)}``.
    path : str or Path
        Output PNG.

    Example
    -------
    >>> p = getfixture("tmpdir") / "det.png"
    >>> plot_det({"a": (np.r_[1.0, 2, 0, 0.5], np.r_[1, 1, 0, 0])}, p)
    >>> p.exists()
    True
    """
    from scipy.special import ndtri

    plt = _plt()
    # Axis range from the data: down to the finest resolvable rate, up to
    # 60 % unless a curve (a poor model) lives above it.
    counts = [np.asarray(lab, bool) for _, lab in curves.values()]
    n_min = min(min(c.sum(), c.size - c.sum()) for c in counts)
    lo = float(np.clip(0.5 / max(n_min, 1), 5e-4, 0.01))
    hi = 0.6
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for label, (scores, labels) in curves.items():
        labels = np.asarray(labels, dtype=bool)
        p_fa, p_miss, _ = det_curve(scores, labels, max_points=4000)
        if np.min(np.maximum(p_fa, p_miss)) > 0.4:
            hi = 0.95
        ax.plot(
            ndtri(np.clip(p_fa, lo, 1 - lo)),
            ndtri(np.clip(p_miss, lo, 1 - lo)),
            label=label,
        )
    marks = [t for t in DET_TICKS + [0.8, 0.9] if lo <= t <= hi]
    ticks = ndtri(marks)
    names = [f"{100 * t:g}" for t in marks]
    ax.set_xticks(ticks, names)
    ax.set_yticks(ticks, names)
    lim = ndtri([lo, hi])
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.plot(lim, lim, color="grey", lw=0.5, ls=":")  # EER line
    ax.set_xlabel("false acceptance rate (%)")
    ax.set_ylabel("false rejection rate (%)")
    ax.set_title("DET")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_score_hist(trials, scores, path, max_panels=16):
    """Target / non-target score histograms per (enrol, test) emotion.

    Arguments
    ---------
    trials : TrialList
        Trials (usually the merged list).
    scores : numpy.ndarray
        Their scores.
    path : str or Path
        Output PNG.
    max_panels : int
        Most frequent emotion pairs shown.
    """
    plt = _plt()
    pair = np.char.add(
        np.char.add(trials.enrol_emotion.astype(str), " / "),
        trials.test_emotion.astype(str),
    )
    names, counts = np.unique(pair, return_counts=True)
    names = names[np.argsort(-counts, kind="stable")][:max_panels]
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.5 * rows), squeeze=False
    )
    bins = np.linspace(scores.min(), scores.max(), 40)
    for ax, name in zip(axes.flat, names, strict=False):
        sel = pair == name
        for lab, colour, text in ((True, "C0", "target"), (False, "C3", "non")):
            s = scores[sel & (trials.labels == lab)]
            if s.size:
                ax.hist(
                    s, bins, color=colour, alpha=0.6, density=True, label=text
                )
        ax.set_title(f"{name} (n={int(sel.sum())})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("scores by enrolment / test emotion")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_eer_matrix(matrix, path):
    """Heat map of an ``emotion_matrix`` result, numbers in the cells.

    Arguments
    ---------
    matrix : dict
        ``emotions`` and ``eer`` (None = undefined).
    path : str or Path
        Output PNG.

    Example
    -------
    >>> p = getfixture("tmpdir") / "m.png"
    >>> plot_eer_matrix({"emotions": ["a", "b"], "eer": [[1, None], [2, 3]]}, p)
    >>> p.exists()
    True
    """
    plt = _plt()
    emos = matrix["emotions"]
    eer = np.array(
        [[np.nan if v is None else v for v in row] for row in matrix["eer"]],
        dtype=float,
    )
    size = 1.0 + 0.8 * len(emos)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    img = ax.imshow(np.ma.masked_invalid(eer), cmap=cmap)
    fig.colorbar(img, ax=ax, label="EER %")
    ax.set_xticks(range(len(emos)), emos, rotation=45, ha="right")
    ax.set_yticks(range(len(emos)), emos)
    ax.set_xlabel("test emotion")
    ax.set_ylabel("enrolment emotion")
    finite = eer[np.isfinite(eer)]
    mid = (finite.max() + finite.min()) / 2 if finite.size else 0
    for i in range(len(emos)):
        for j in range(len(emos)):
            text = "-" if np.isnan(eer[i, j]) else f"{eer[i, j]:.1f}"
            colour = "black" if np.isnan(eer[i, j]) or eer[i, j] > mid else "w"
            ax.text(j, i, text, ha="center", va="center", color=colour)
    ax.set_title("EER % by emotion pair")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def project_2d(emb, method="tsne", seed=0):
    """2-D projection of embeddings (t-SNE, or PCA when asked or tiny).

    Arguments
    ---------
    emb : numpy.ndarray
        ``[N, D]`` embeddings.
    method : str
        ``"tsne"`` or ``"pca"``.
    seed : int
        t-SNE seed.

    Returns
    -------
    numpy.ndarray
        ``[N, 2]`` coordinates.

    Example
    -------
    >>> project_2d(np.eye(4), method="pca").shape
    (4, 2)
    """
    from sklearn.decomposition import PCA

    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
    if method == "tsne" and emb.shape[0] > 10:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (emb.shape[0] - 1) / 3)
        return TSNE(
            2, perplexity=perplexity, init="pca", random_state=seed
        ).fit_transform(emb)
    return PCA(2, random_state=seed).fit_transform(emb)


def plot_embeddings(
    emb, speakers, emotions, path, method="tsne", max_speakers=20, seed=0
):
    """Scatter of projected embeddings: colour = speaker, marker = emotion.

    Arguments
    ---------
    emb : numpy.ndarray
        ``[N, D]`` evaluation embeddings.
    speakers : sequence of str
        Speaker of each row.
    emotions : sequence of str
        Emotion of each row.
    path : str or Path
        Output PNG.
    method : str
        ``"tsne"`` or ``"pca"``.
    max_speakers : int
        Speakers shown (the first ones in sorted order; keeps colours
        distinguishable).
    seed : int
        Projection seed.
    """
    plt = _plt()
    speakers, emotions = np.asarray(speakers), np.asarray(emotions)
    shown = np.unique(speakers)[:max_speakers]
    sel = np.isin(speakers, shown)
    xy = project_2d(np.asarray(emb)[sel], method, seed)
    speakers, emotions = speakers[sel], emotions[sel]
    emo_names = np.unique(emotions)
    cmap = plt.get_cmap("tab20" if len(shown) > 10 else "tab10")
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for s_i, spk in enumerate(shown):
        for e_i, emo in enumerate(emo_names):
            m = (speakers == spk) & (emotions == emo)
            if m.any():
                ax.scatter(
                    xy[m, 0],
                    xy[m, 1],
                    color=cmap(s_i % cmap.N),
                    marker=MARKERS[e_i % len(MARKERS)],
                    s=22,
                    alpha=0.8,
                    edgecolors="none",
                )
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="w", marker="o", markerfacecolor=cmap(i % cmap.N))
        for i in range(len(shown))
    ]
    handles += [
        Line2D([], [], color="grey", marker=MARKERS[i % len(MARKERS)], ls="")
        for i in range(len(emo_names))
    ]
    ax.legend(
        handles,
        list(shown) + list(emo_names),
        fontsize=7,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
    )
    ax.set_title(
        f"{method.upper()} of evaluation embeddings "
        "(colour = speaker, marker = emotion)",
        fontsize=9,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(out_dir, lists, scores, merged, matrix, emb, rows, method):
    """Writes the four figures; returns their file names.

    Arguments
    ---------
    out_dir : str or Path
        Output folder.
    lists : dict
        ``{name: TrialList}``.
    scores : dict
        ``{name: cosine scores}``.
    merged : str
        Name of the list used for histograms.
    matrix : dict
        ``emotion_matrix`` result.
    emb : numpy.ndarray
        Evaluation embeddings (manifest order).
    rows : list of dict
        Evaluation manifest rows.
    method : str
        ``"tsne"`` or ``"pca"``.

    Returns
    -------
    list of str
        File names written.
    """
    out_dir = Path(out_dir)
    plot_det(
        {n: (scores[n], lists[n].labels) for n in list_order(lists)},
        out_dir / "det.png",
    )
    plot_score_hist(lists[merged], scores[merged], out_dir / "score_hist.png")
    plot_eer_matrix(matrix, out_dir / "eer_matrix.png")
    plot_embeddings(
        emb,
        [r["spk_id"] for r in rows],
        [r["emotion"] for r in rows],
        out_dir / "embeddings_2d.png",
        method=method,
    )
    return ["det.png", "score_hist.png", "eer_matrix.png", "embeddings_2d.png"]
