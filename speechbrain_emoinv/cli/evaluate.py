"""``emoinv-eval``: evaluate an exported model on a prepared data folder.

Example::

    emoinv-eval --model results/export --data data/mbrola_default/prepared \\
        --split eval --out results/eval
"""

import sys
from pathlib import Path

import torch

from speechbrain_emoinv.cli import make_parser, positive_int, run_main
from speechbrain_emoinv.evaluation import run_evaluation
from speechbrain_emoinv.evaluation.embedding import BATCH_SIZE


def build_parser():
    """Argument parser of ``emoinv-eval``.

    Example
    -------
    >>> a = build_parser().parse_args(["--model", "m", "--data", "d"])
    >>> a.split, a.cohort, a.topk
    ('eval', None, 300)
    """
    p = make_parser(
        "emoinv-eval",
        "Score every trial list of a split with an exported model; write "
        "results.json, results.md and figures.",
        model=True,
        backend=True,
    )
    p.add_argument("--data", required=True, help="prepared data folder")
    p.add_argument("--split", default="eval", help="eval or valid")
    p.add_argument("--out", default=None, help="output folder")
    p.add_argument(
        "--cohort",
        default=None,
        help="manifest split for s-norm/AS-norm (default: train, where the "
        "data folder has one); 'none' disables",
    )
    p.add_argument("--cohort-size", type=positive_int, default=2000)
    p.add_argument(
        "--topk", type=positive_int, default=300, help="AS-norm top-k"
    )
    p.add_argument(
        "--exclude-speakers",
        default=None,
        help="@file (one speaker per line) or a,b,c: drop their trials "
        "(an unknown speaker is an error)",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache (keyed by model and manifest content)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=BATCH_SIZE,
        help="PyTorch path only",
    )
    p.add_argument("--projection", choices=["tsne", "pca"], default="tsne")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-probe", action="store_true")
    p.add_argument(
        "--threads", type=positive_int, default=None, help="torch threads"
    )
    return p


def cohort_split(args):
    """The cohort's split: ``train`` by default (cosine scores only when
    the data folder has no ``train.csv``), None for ``none``; a split
    named on the command line must exist."""
    if args.cohort is None:
        return "train"
    if args.cohort.lower() == "none":
        return None
    if args.cohort == args.split:  # each trial's own clips in its top-k
        raise ValueError(
            f"--cohort {args.cohort} is the split evaluated: a cohort holds "
            "other speakers (e.g. train)"
        )
    path = Path(args.data) / f"{args.cohort}.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such cohort manifest (--cohort {args.cohort}; "
            "--cohort none scores cosine only)"
        )
    return args.cohort


def run(argv=None):
    """Does the work of ``emoinv-eval``; returns the results dict."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.topk < 2:
        parser.error("--topk must be 2 or more (the std of one score is 0)")
    if args.threads:
        torch.set_num_threads(args.threads)
    # Beside the model folder, also for "--model ." (never inside it).
    model = Path(args.model).resolve()
    out = args.out or str(model.with_name(f"{model.name}_eval_{args.split}"))
    return run_evaluation(
        args.model,
        args.data,
        out,
        split=args.split,
        cohort=cohort_split(args),
        exclude=args.exclude_speakers,
        cohort_size=args.cohort_size,
        topk=args.topk,
        cache_dir=args.cache_dir,
        device=args.device,
        batch_size=args.batch_size,
        backend=args.backend,
        plots=not args.no_plots,
        probe=not args.no_probe,
        projection=args.projection,
    )


def main(argv=None):
    """``emoinv-eval`` entry point; returns the exit status."""
    return run_main("emoinv-eval", run, argv)


if __name__ == "__main__":
    sys.exit(main())
