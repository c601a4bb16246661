"""``emoinv-make-corpus``: generate the simulated MBROLA emotional corpus.

Example: ``emoinv-make-corpus --size default --out data/mbrola`` (add
``--prepare data/mbrola_prepared`` to write the manifests and trials too).
"""

import sys
import time

from speechbrain_emoinv.cli import make_parser, positive_int, run_main
from speechbrain_emoinv.data.mbrola.corpus import SIZES, generate_corpus
from speechbrain_emoinv.data.mbrola.voices import MissingToolError


def run(argv=None):
    """Does the work of ``emoinv-make-corpus``; returns the corpus folder.

    Raises ``SystemExit(2)`` (one line on stderr) when espeak-ng, mbrola
    or a voice is missing.
    """
    parser = make_parser(
        "emoinv-make-corpus",
        "Generate the simulated MBROLA emotional corpus (16 kHz mono WAVs "
        "+ metadata.csv). Resumable.",
    )
    parser.add_argument("--size", default="default", choices=sorted(SIZES))
    parser.add_argument("--out", default="data/mbrola", help="output folder")
    parser.add_argument("--num-workers", type=positive_int, default=None)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--prepare",
        default=None,
        metavar="SAVE_FOLDER",
        help="also write the prepared folder (CSVs, speaker lists, trials)",
    )
    args = parser.parse_args(argv)
    t0 = time.time()
    try:
        out = generate_corpus(args.out, args.size, args.num_workers, args.seed)
        if args.prepare:
            from speechbrain_emoinv.data.prepare_mbrola import prepare_mbrola

            prepare_mbrola(
                out,
                args.prepare,
                size=args.size,
                num_workers=args.num_workers,
                seed=args.seed,
                generate=False,
            )
    except MissingToolError as err:
        print(f"emoinv-make-corpus: error: {err}", file=sys.stderr)
        raise SystemExit(2)
    print(f"[emoinv-make-corpus] done in {time.time() - t0:.1f} s: {out}")
    return out


def main(argv=None):
    """Command-line entry point.

    Arguments
    ---------
    argv : list of str or None
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 ok, 1 an error (one line on stderr). A usage error
        or missing tools or voices raise ``SystemExit(2)``.

    Example
    -------
    >>> main(["--size", "nosuchsize"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    return run_main("emoinv-make-corpus", run, argv)


if __name__ == "__main__":
    sys.exit(main())
