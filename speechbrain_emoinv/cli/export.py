"""``emoinv-export``: an exported folder's embedding path as TorchScript or
ONNX, for deployment without SpeechBrain (ONNX: onnxruntime only).

Examples::

    emoinv-export --model results/emoinv/1986/pretrained --format onnx
    emoinv-export --model DIR --format torchscript --out /srv/spk.pt

The file takes one mono utterance ``(1, T)`` at the model's sample rate and
returns its embedding ``(1, D)``; it is checked against the folder's PyTorch
model on random signals of other lengths than the traced one: the largest
1 - cosine of an embedding and the largest change of a pair's cosine score
are printed, and above 1e-4 the command fails, leaving no file. Without ``--out`` the
file goes into the model folder.
"""

from speechbrain_emoinv.cli import make_parser, run_main
from speechbrain_emoinv.export.formats import PARITY_TOL, export_format
from speechbrain_emoinv.pretrained import FORMAT_FILES


def build_parser():
    """Argument parser of ``emoinv-export``.

    Example
    -------
    >>> build_parser().parse_args(["--model", "m", "--format", "onnx"]).format
    'onnx'
    """
    p = make_parser(
        "emoinv-export",
        "Write the embedding path of an exported model folder as "
        "TorchScript or ONNX, checked against PyTorch.",
        model=True,
    )
    p.add_argument("--format", required=True, choices=sorted(FORMAT_FILES))
    defaults = ", ".join(f"{f} ({k})" for k, f in sorted(FORMAT_FILES.items()))
    p.add_argument(
        "--out", help=f"output file (default, in --model: {defaults})"
    )
    return p


def run(argv):
    """Parses ``argv`` and writes the file; prints its path and parity."""
    args = build_parser().parse_args(argv)
    try:
        path, gaps = export_format(args.model, args.format, args.out)
    except ImportError as err:
        raise RuntimeError(
            f"{err.name or err} is missing: pip install "
            "'speechbrain-emoinv[export]'"
        ) from err
    print(
        f"{path}\t{args.format}\tvs PyTorch: 1 - cosine "
        f"{gaps['cosine']:.1e}, score change {gaps['score']:.1e} "
        f"(tolerance {PARITY_TOL:g})"
    )


def main(argv=None):
    """Runs ``emoinv-export``; returns the exit status."""
    return run_main("emoinv-export", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
