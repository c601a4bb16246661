"""Prepares VoxCeleb1/2 for pretraining (emotion ``unknown``).

Layout: ``<folder>/wav/<speaker>/<youtube id>/<nnnnn>.wav`` for each given
folder. IDs are ``<speaker>--<youtube id>--<nnnnn>``. The official trial
list (``veri_test2.txt`` etc., lines ``<label> <enrol path> <test path>``)
makes its speakers the eval speakers and becomes
``trials/eval/merged.txt`` (trials whose files were skipped are dropped and
counted); ``neutral``/``cross``/``emo_emo`` stay empty for lack of emotion
labels. Genders come from ``vox1_meta.csv`` / ``vox2_meta.csv`` when given.

Authors: speechbrain-emoinv contributors
"""

import csv
from pathlib import Path

from speechbrain_emoinv.data.prepared_folder import audio_glob, run_prepare
from speechbrain_emoinv.data.trials import iter_trial_lines


def path_to_id(rel):
    """VoxCeleb relative path -> utterance ID.

    Arguments
    ---------
    rel : str
        ``id10270/5r0dWxy17C8/00001.wav``.

    Returns
    -------
    str

    Example
    -------
    >>> path_to_id("id10270/5r0dWxy17C8/00001.wav")
    'id10270--5r0dWxy17C8--00001'
    """
    parts = rel.strip().split("/")
    if len(parts) != 3 or not parts[2].lower().endswith(".wav"):
        raise ValueError(f"not a <spk>/<video>/<n>.wav path: {rel!r}")
    return "--".join(parts[:2] + [parts[2][:-4]])


def read_official_trials(path):
    """Official VoxCeleb trials as ``(label, enrol ID, test ID)``.

    Arguments
    ---------
    path : str or Path
        Trial list.

    Returns
    -------
    list of (int, str, str)

    Raises
    ------
    ValueError
        On a malformed line, or a label that says otherwise than the two
        IDs' speakers (file and line named).

    Example
    -------
    >>> p = getfixture("tmp_path") / "veri.txt"
    >>> _ = p.write_text("1 id1/a/00001.wav id1/b/00002.wav\\n")
    >>> read_official_trials(p)
    [(1, 'id1--a--00001', 'id1--b--00002')]
    >>> _ = p.write_text("1 id1/a/00001.wav id1/b/00002.wav\\n2 x\\n")
    >>> read_official_trials(p)
    Traceback (most recent call last):
    ...
    ValueError: ...veri.txt:2: malformed trial line '2 x': expected 3 or 5 columns ...
    >>> _ = p.write_text("0 id1/a/00001.wav id1/b/00002.wav\\n")
    >>> read_official_trials(p)
    Traceback (most recent call last):
    ...
    ValueError: ...veri.txt:1: malformed trial line: label 0 for id1--a--00001 and id1--b--00002
    """
    out = []
    for num, label, enrol, test, emo, _ in iter_trial_lines(path):
        try:
            if emo is not None:
                raise ValueError("VoxCeleb lists have 3 columns")
            enrol, test = path_to_id(enrol), path_to_id(test)
            same = enrol.split("--")[0] == test.split("--")[0]
            if label != same:
                raise ValueError(f"label {label} for {enrol} and {test}")
            out.append((label, enrol, test))
        except ValueError as err:
            raise ValueError(f"{path}:{num}: malformed trial line: {err}")
    return out


def read_meta(path):
    """Speaker -> gender from ``vox1_meta.csv`` / ``vox2_meta.csv``.

    Arguments
    ---------
    path : str or Path
        Tab- or comma-separated file with a ``VoxCeleb.. ID`` and a
        ``Gender`` column.

    Returns
    -------
    dict
        Speaker -> ``m``, ``f`` or empty (other values).

    Example
    -------
    >>> p = getfixture("tmp_path") / "m.csv"
    >>> _ = p.write_text(
    ...     "VoxCeleb1 ID\\tVGGFace1 ID\\tGender\\nid10001\\tA\\tm\\n"
    ... )
    >>> read_meta(p)
    {'id10001': 'm'}
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    delim = "\t" if "\t" in text.splitlines()[0] else ","
    reader = csv.reader(text.splitlines(), delimiter=delim)
    header = [h.strip().lower() for h in next(reader)]
    try:
        i_id = next(i for i, h in enumerate(header) if h.startswith("voxceleb"))
        i_g = header.index("gender")
    except (StopIteration, ValueError):
        raise ValueError(f"{path}:1: need 'VoxCeleb.. ID' and 'Gender' columns")
    out = {}
    for num, row in enumerate(reader, 2):
        if not row:
            continue
        if len(row) <= max(i_id, i_g):
            raise ValueError(f"{path}:{num}: malformed row {row}")
        g = row[i_g].strip().lower()[:1]
        out[row[i_id].strip()] = g if g in ("m", "f") else ""
    return out


def prepare_voxceleb(
    data_folder, save_folder, trial_file=None, meta_files=(), **kwargs
):
    """Writes the prepared folder of VoxCeleb1 and/or 2 and returns it.

    Arguments
    ---------
    data_folder : str or Path or list
        One or more roots, each holding ``wav/``.
    trial_file : str or Path or None
        Official list; default ``veri_test2.txt`` (then ``veri_test.txt``)
        in the first root when present (without one, a seeded
        ``eval_fraction`` of all speakers evaluates, counted as
        ``no_official_trial_list``).
    meta_files : sequence of str or Path
        Meta files with genders.
    save_folder, **kwargs
        See :func:`~speechbrain_emoinv.data.prepared_folder.run_prepare`.
    """
    roots = (
        [Path(p) for p in data_folder]
        if isinstance(data_folder, (list, tuple))
        else [Path(data_folder)]
    )
    if trial_file is None:
        for name in ("veri_test2.txt", "veri_test.txt"):
            if (roots[0] / name).is_file():
                trial_file = roots[0] / name
                break

    for root in roots:  # an extra root that is not there would count nothing
        if not (root / "wav").is_dir():
            raise FileNotFoundError(
                f"{root / 'wav'}: no VoxCeleb wav/ folder (VoxCeleb2's aac/ "
                "m4a files: convert them to wav/ first, with ffmpeg)"
            )

    def collect(report, add):
        genders = {}
        for m in meta_files:
            genders.update(read_meta(m))
        known = set()
        for root in roots:
            for wav in audio_glob(root / "wav", "*/*/*.wav", report):
                rel = wav.relative_to(root / "wav").as_posix()
                spk = rel.split("/")[0]
                gender = genders.get(spk, "")
                add(path_to_id(rel), wav, f"vox-{spk}", None, gender=gender)
                known.add(f"vox-{spk}")
        if trial_file is None:  # said: evaluation is then a seeded share
            report.add(
                "no_official_trial_list",
                str(roots[0] / "veri_test2.txt"),
                "a seeded share of all speakers evaluates; pass "
                "--verification_file for VoxCeleb1-O",
            )
            return None
        trials = read_official_trials(trial_file)
        spk = {f"vox-{i.split('--')[0]}" for t in trials for i in t[1:]}
        for s in sorted(spk - known):
            report.add("trial_speaker_missing", s)
        return dict(
            official_trials={"eval": trials}, eval_speakers=sorted(spk & known)
        )

    return run_prepare(
        "voxceleb",
        roots[0],
        save_folder,
        collect,
        extra=dict(
            roots=[str(r.resolve()) for r in roots],
            trial_file=str(trial_file) if trial_file else None,
            meta_files=[str(m) for m in meta_files],
        ),
        **kwargs,
    )
