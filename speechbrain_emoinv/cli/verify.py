"""``emoinv-verify``: verify speaker pairs with an exported model.

Unlike SpeechBrain's ``verify_files`` (always 0.25, speechbrain issue
#2917), the decision uses the model's stored ``verification_threshold``
(or ``--threshold``).

Examples::

    emoinv-verify --model results/export a.wav b.wav
    emoinv-verify --model results/export --trials pairs.txt
    emoinv-verify --model results/export \\
        --trials data/mbrola_default/prepared/trials/eval/cross.txt \\
        --data data/mbrola_default/prepared

``--trials`` lines are ``enrol.wav test.wav`` (relative paths from
``--data`` or the list's folder) or our trial format ``label enrol_ID
test_ID [emotions]`` with utterance IDs looked up in ``--data``'s
manifests. A line holding a tab is split on tabs only, so paths with
spaces are written ``enrol path<TAB>test path``. The file is UTF-8 (a
byte-order mark is skipped).
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from speechbrain_emoinv.cli import make_parser, positive_int, run_main
from speechbrain_emoinv.data.manifest import (
    EmptyManifestError,
    is_manifest,
    read_manifest,
)
from speechbrain_emoinv.data.trials import text_lines
from speechbrain_emoinv.evaluation.embedding import embed_rows, load_embedder
from speechbrain_emoinv.evaluation.run import pick_backend, warn_clips
from speechbrain_emoinv.pretrained import model_threshold
from speechbrain_emoinv.scoring import cosine_scores


def build_parser():
    """Argument parser of ``emoinv-verify``.

    Example
    -------
    >>> build_parser().parse_args(["--model", "m", "a.wav", "b.wav"]).wavs
    ['a.wav', 'b.wav']
    """
    p = make_parser(
        "emoinv-verify",
        "Cosine score and same/different decision under the model's "
        "stored threshold.",
        model=True,
        backend=True,
    )
    p.add_argument("wavs", nargs="*", help="enrol.wav test.wav")
    p.add_argument("--trials", help="batch mode: a list of pairs")
    p.add_argument("--data", help="root of relative paths / manifests")
    p.add_argument(
        "--threshold", type=finite_float, help="override the stored one"
    )
    p.add_argument("--device", default="cpu")
    # 1 = no padding: a file's embedding does not depend on its partners.
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument(
        "--savedir",
        help="parent of the loader's temporary working folder "
        "(default: the system's temporary folder)",
    )
    return p


def finite_float(text):
    """A finite float (argparse type): ``nan`` and ``inf`` are refused.

    Example
    -------
    >>> finite_float("0.3")
    0.3
    >>> finite_float("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: not a finite number: 'nan'
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _file_row(path, where):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{where}: audio file {path} not found")
    info = sf.info(str(path))
    return {
        "ID": str(path),
        "wav": str(path),
        "start": 0,
        "stop": -1,
        "duration": info.duration,
    }


def parse_pairs(trials, data=None):
    """Rows to embed and the pairs of a list, as indices into the rows.

    Arguments
    ---------
    trials : str or Path
        Trial file.
    data : str or Path or None
        Root of relative paths; for ID lists, folder of manifests.

    Returns
    -------
    rows : list of dict
        Unique utterances.
    pairs : list of tuple
        ``(enrol index, test index, label or None, enrol name, test
        name)``, the indices into ``rows``.
    """
    trials = Path(trials)
    root = Path(data) if data else trials.parent
    rows, index, pairs, manifest = [], {}, [], None
    for line_no, line in text_lines(trials):
        # Tab-separated when the line has a tab: paths may hold spaces.
        sep = "\t" if "\t" in line else None
        parts = [p.strip() for p in line.split(sep) if p.strip()]
        if not parts or parts[0].startswith("#"):
            continue
        where = f"{trials}:{line_no}"
        if len(parts) == 2:
            label, names = None, parts
        elif len(parts) in (3, 5) and parts[0] in ("0", "1"):
            label, names = int(parts[0]), parts[1:3]
            if manifest is None:
                manifest = _manifest_index(data, where)
        else:
            raise ValueError(
                f"{where}: expected 'enrol.wav test.wav' or "
                "'label enrol_ID test_ID [emo emo]'"
            )
        idx = []
        for name in names:
            if name not in index:
                if label is None:
                    path = Path(name)
                    row = _file_row(
                        path if path.is_absolute() else root / path, where
                    )
                elif name in manifest:
                    row = manifest[name]
                else:
                    raise ValueError(
                        f"{where}: unknown utterance {name!r} (not in "
                        f"the manifests of {data})"
                    )
                index[name] = len(rows)
                rows.append(row)
            idx.append(index[name])
        pairs.append((idx[0], idx[1], label, names[0], names[1]))
    if not pairs:
        raise ValueError(f"{trials}: empty trial list")
    return rows, pairs


def _manifest_index(data, where):
    if not data:
        raise ValueError(f"{where}: utterance IDs need --data (manifests)")
    index, origin = {}, {}
    for csv_path in sorted(Path(data).glob("*.csv")):
        if not is_manifest(csv_path):
            print(
                f"emoinv-verify: note: {csv_path} skipped, not a manifest "
                "(no ID,wav,start,stop,spk_id,emotion header)",
                file=sys.stderr,
            )
            continue
        try:
            rows = read_manifest(csv_path, strict=False)
        except EmptyManifestError:
            continue  # e.g. the train.csv of an evaluation-only folder
        for row in rows:
            if row["ID"] in index:
                raise ValueError(
                    f"{csv_path}: utterance ID {row['ID']!r} is also in "
                    f"{origin[row['ID']]}"
                )
            index[row["ID"]], origin[row["ID"]] = row, csv_path
    if not index:
        raise ValueError(f"{where}: no manifest CSV in {data}")
    return index


def run(argv=None):
    """Does the work of ``emoinv-verify``; returns the list of scores."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.trials) == bool(args.wavs) or (
        args.wavs and len(args.wavs) != 2
    ):
        parser.error("give two WAV files or --trials FILE")
    threshold, source = model_threshold(args.model, args.threshold)
    if args.trials:
        rows, pairs = parse_pairs(args.trials, args.data)
    else:
        rows = [_file_row(w, "command line") for w in args.wavs]
        pairs = [(0, 1, None, *args.wavs)]
    backend = pick_backend(
        args.model, args.backend, args.device, "emoinv-verify"
    )
    model = load_embedder(args.model, backend, args.savedir, args.device)
    issues = {}
    emb = embed_rows(model, rows, args.batch_size, issues)
    enrol = np.array([p[0] for p in pairs])
    test = np.array([p[1] for p in pairs])
    scores = cosine_scores(emb, enrol, test, ids=[r["ID"] for r in rows])
    print(f"# threshold {threshold:g} ({source}); decision = score > threshold")
    for (_, _, label, a, b), s in zip(pairs, scores, strict=True):
        same = "same" if s > threshold else "different"
        extra = "" if label is None else f" label={label}"
        print(f"{a} {b} {s:.4f} {same}{extra}")
    labels = [p[2] for p in pairs]
    if None not in labels:
        acc = np.mean((scores > threshold) == np.array(labels, dtype=bool))
        print(f"# accuracy at threshold: {100 * acc:.2f} % of {len(pairs)}")
    if issues:
        print(f"# short or silent clips: {len(issues)} of {len(rows)}")
        warn_clips(issues, "emoinv-verify")
    sys.stdout.flush()
    return scores.tolist()


def main(argv=None):
    """``emoinv-verify`` entry point; returns the exit status."""
    return run_main("emoinv-verify", run, argv)


if __name__ == "__main__":
    sys.exit(main())
