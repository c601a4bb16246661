"""The model card (``README.md``) of an exported folder: hub-style
metadata header, training corpora and their licences, evaluation table,
usage, deployment, security note and citations.

Authors
 * speechbrain-emoinv contributors 2025
"""

from pathlib import Path

import yaml

from speechbrain_emoinv.atomic_files import write_text
from speechbrain_emoinv.data.audio_checks import TARGET_SR, WINDOW_SECONDS
from speechbrain_emoinv.export.formats import MIN_SAMPLES, PARITY_TOL
from speechbrain_emoinv.pretrained import (
    CARD_FILE,
    COHORT_FILE,
    FINGERPRINT_KEY,
    FORMAT_FILES,
    read_metadata,
    yaml_flow,
)

# Training corpora a model card can name: hub licence id (``other`` where
# the corpus has its own terms), languages, and the licence in words.
CORPORA = {
    "mbrola": (
        "Simulated emotional speech (espeak-ng + MBROLA voices)",
        "other",
        ["en"],
        "MBROLA voice licences: non-free, research and non-commercial use "
        "only; a model trained on this audio inherits that restriction",
    ),
    "debian_voices": (
        "Real voices from Debian packages (Tux Paint, Asterisk prompts, "
        "KTuberling, Flight of the Amazon Queen)",
        "other",
        ["multilingual"],
        "each package's own licence (GPL-2, CC-BY-SA-3.0, CC-BY-3.0, "
        "freeware; see the packages' copyright files)",
    ),
    "esd": (
        "ESD (Emotional Speech Dataset)",
        "other",
        ["en", "zh"],
        "the ESD licence agreement (see the corpus release)",
    ),
    "cremad": ("CREMA-D", "odbl", ["en"], "Open Database License (ODbL)"),
    "ravdess": ("RAVDESS", "cc-by-nc-sa-4.0", ["en"], "CC BY-NC-SA 4.0"),
    "dusha": (
        "Dusha",
        "other",
        ["ru"],
        "the Dusha licence (see the corpus release)",
    ),
    "voxceleb": ("VoxCeleb", "cc-by-4.0", ["multilingual"], "CC BY 4.0"),
    "iemocap": (
        "IEMOCAP",
        "other",
        ["en"],
        "the IEMOCAP release agreement (research use)",
    ),
}


CITATIONS = """```bibtex
@misc{tian2025emotioninvariant,
  title  = {Learning Emotion-Invariant Speaker Representations for Speaker
            Verification},
  author = {Jingguang Tian and Xinhui Hu and Xinkang Xu},
  year   = {2025},
  eprint = {2505.18498},
  archivePrefix = {arXiv},
}
@misc{speechbrainV1,
  title  = {Open-Source Conversational AI with {SpeechBrain} 1.0},
  author = {Mirco Ravanelli and Titouan Parcollet and Adel Moumen and
            Sylvain de Langen and Cem Subakan and Peter Plantinga and
            Yingzhi Wang and Pooneh Mousavi and Luca Della Libera and
            Artem Ploujnikov and others},
  year   = {2024},
  eprint = {2407.00463},
  archivePrefix = {arXiv},
}
@misc{speechbrain,
  title  = {{SpeechBrain}: A General-Purpose Speech Toolkit},
  author = {Mirco Ravanelli and Titouan Parcollet and Peter Plantinga and
            Aku Rouhe and Samuele Cornell and Loren Lugosch and others},
  year   = {2021},
  eprint = {2106.04624},
  archivePrefix = {arXiv},
}
```"""


TRUST_NOTE = (
    "Load trusted model folders only: `hyperparams.yaml` names Python "
    "objects that SpeechBrain builds (`!new:` / `!name:` run code), and "
    "the TorchScript file holds a program. The checkpoints load with "
    "`weights_only=True`."
)


def card_header(datasets):
    """Hub-style metadata of the model card (the YAML front matter).

    Arguments
    ---------
    datasets : list of str
        Keys of ``CORPORA`` the model was trained on (pretraining too).

    Returns
    -------
    dict
        ``library_name``, ``license``, ``language``, ``tags``,
        ``datasets`` and ``metrics``. One licence when every corpus has the
        same, else ``other`` (the card lists each).

    Example
    -------
    >>> card_header(["ravdess"])["license"]
    'cc-by-nc-sa-4.0'
    >>> card_header(["voxceleb", "ravdess"])["license"]
    'other'
    >>> card_header(["timit"])
    Traceback (most recent call last):
    ...
    ValueError: unknown training corpus 'timit' in model_card datasets: known are mbrola, debian_voices, esd, cremad, ravdess, dusha, voxceleb, iemocap
    """
    for key in datasets:
        if key not in CORPORA:
            raise ValueError(
                f"unknown training corpus {key!r} in model_card datasets: "
                f"known are {', '.join(CORPORA)}"
            )
    licences = sorted({CORPORA[k][1] for k in datasets})
    languages = sorted({lang for k in datasets for lang in CORPORA[k][2]})
    return {
        "library_name": "speechbrain",
        "license": licences[0] if len(licences) == 1 else "other",
        "language": languages,
        "tags": [
            "speechbrain",
            "speaker-verification",
            "speaker-recognition",
            "speaker-embeddings",
            "ECAPA-TDNN",
            "emotion-invariant",
            "pytorch",
        ],
        "datasets": [CORPORA[k][0] for k in datasets],
        "metrics": ["eer", "min_dcf", "act_dcf", "cllr"],
    }


HEADINGS = {
    "config": "Training configuration",
    "valid_eer": "Validation EER",
}


def heading(key):
    """Section heading of a ``model_card`` key.

    Example
    -------
    >>> heading("valid_eer"), heading("data"), heading("notes_on_use")
    ('Validation EER', 'Data', 'Notes on use')
    """
    return HEADINGS.get(key, str(key).replace("_", " ").capitalize())


def evaluation_table(results):
    """Markdown table of a ``results.json`` dict (cosine and AS-norm rows).

    Arguments
    ---------
    results : dict
        What ``run_evaluation`` wrote.

    Returns
    -------
    str
        One row per list and scoring: trials, EER %, minDCF and, for
        cosine, the actual DCF of the calibrated scores at their Bayes
        threshold, Cllr, and the miss and false-alarm rates at the stored
        decision threshold.

    Example
    -------
    >>> m = {
    ...     "eer": 5.0,
    ...     "min_dcf@0.01": 0.3,
    ...     "act_dcf_bayes@0.01": 0.4,
    ...     "p_miss": 0.05,
    ...     "p_fa": 0.1,
    ... }
    >>> r = {"lists": {"merged": {"n_trials": 10, "cosine": m}}}
    >>> print(evaluation_table(r).splitlines()[-1])
    | merged | cosine | 10 | 5.00 | 0.300 | 0.400 | - | 5.00 | 10.00 |
    """

    def cell(metrics, key, fmt):
        return format(metrics[key], fmt) if key in metrics else "-"

    def percent(metrics, key):
        return format(100 * metrics[key], ".2f") if key in metrics else "-"

    lines = [
        "| list | scoring | trials | EER % | minDCF@0.01 | LLR actDCF@0.01 "
        "| Cllr | miss % | false alarm % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = ["neutral", "cross", "emo_emo", "merged"]
    names = sorted(results["lists"], key=lambda n: (n not in order, n))
    names = sorted(names, key=lambda n: order.index(n) if n in order else 9)
    for name in names:
        res = results["lists"][name]
        for norm in ("cosine", "asnorm"):
            if norm not in res:
                continue
            m = res[norm]
            lines.append(
                f"| {name} | {norm} | {res['n_trials']} | {m['eer']:.2f} | "
                f"{m['min_dcf@0.01']:.3f} | "
                f"{cell(m, 'act_dcf_bayes@0.01', '.3f')} | "
                f"{cell(m, 'cllr', '.3f')} | {percent(m, 'p_miss')} | "
                f"{percent(m, 'p_fa')} |"
            )
    return "\n".join(lines)


def render_model_card(
    model_card=None, threshold=None, evaluations=(), meta=None
):
    """Returns the model card markdown, with a hub-style metadata header.

    Arguments
    ---------
    model_card : dict or None
        ``title``, ``description``, ``datasets`` (keys of ``CORPORA``) and
        further sections (title -> text, dict or list).
    threshold : float or None
        Stored decision threshold, quoted in the usage section.
    evaluations : sequence of dict
        ``results.json`` of each evaluation (e.g. the corpus's own
        evaluation speakers, then the real voices'), a table each.
    meta : dict or None
        Plain keys of the folder's ``hyperparams.yaml`` (operating point,
        calibration) and ``files`` (the optional files present).

    Returns
    -------
    str
        Markdown text; licence, trust note and citations always present.

    Example
    -------
    >>> card = render_model_card({"datasets": ["cremad"], "data": "toy"})
    >>> card.startswith("---\\nlibrary_name: speechbrain")
    True
    >>> "license: odbl" in card and "## Citation" in card
    True
    >>> "Load trusted model folders only" in card
    True
    """
    sections = dict(model_card or {})
    meta = dict(meta or {})
    datasets = list(sections.pop("datasets", None) or [])
    header = yaml.safe_dump(card_header(datasets), sort_keys=False)
    title = sections.pop("title", "Emotion-invariant ECAPA-TDNN speaker model")
    desc = sections.pop(
        "description",
        "Speaker embeddings trained with CopyPaste parallel samples, a "
        "cosine pair loss (ERL) and emotion-aware energy masking "
        "(arXiv 2505.18498), with SpeechBrain.",
    )
    out = ["---", header.rstrip(), "---", "", f"# {title}", "", desc, ""]
    out += ["## Training data", ""]
    out += [f"- {CORPORA[k][0]}: {CORPORA[k][3]}" for k in datasets]
    out += ["- (not given)"] if not datasets else []
    out.append("")
    for name, body in sections.items():
        out += [f"## {heading(name)}", ""]
        if isinstance(body, dict):
            out += ["| key | value |", "| --- | --- |"]
            out += [f"| {k} | {yaml_flow(v)} |" for k, v in body.items()]
        elif isinstance(body, list | tuple):
            out += [f"- {item}" for item in body]
        else:
            out.append(str(body))
        out.append("")
    out += ["## Evaluation", ""]
    if evaluations:
        out += [
            "Cosine rows: actual DCF of the stored calibration's LLRs at "
            "their Bayes threshold, Cllr, and the miss and false-alarm rates "
            "at the stored decision threshold (both chosen on the validation "
            "speakers). `emoinv-eval --backend <backend>` on the folder "
            "reproduces a table; the other backend embeds without padding "
            "and differs a little (docs/deployment.md).",
            "",
        ]
    for results in evaluations:
        where = Path(results["data_dir"])  # no path of the machine itself
        how = [f"`{results['model']['backend']}` backend"]
        cohort = results["cohort"]
        if cohort["topk"]:
            how.append(
                f"AS-norm against {cohort['n_utterances']} utterances of its "
                f"`{cohort['split']}` split"
            )
        out += [
            f"Split `{results['split']}` of the prepared folder "
            f"`{where.parent.name}/{where.name}` ({'; '.join(how)}):",
            "",
            evaluation_table(results),
            "",
        ]
    if not evaluations:
        out += ["Not evaluated yet.", ""]
    thr = "not set (0.25 fallback)" if threshold is None else f"{threshold}"
    point = meta.get("operating_point")
    rate = meta.get("sample_rate", 16000)
    out += [
        "## Usage",
        "",
        "On a CPU onnxruntime is the fastest path one utterance at a "
        "time; it runs "
        f"`{FORMAT_FILES['onnx']}`: the training run writes it "
        "(`export_onnx`, with the `[export]` extra installed), else "
        "`emoinv-export --model <this folder> --format onnx` does; "
        "`emoinv-verify`, `emoinv-eval` and `emoinv-embed` use it "
        "(`--backend auto`). With onnxruntime alone, use the `embed()` of "
        f"Deployment below: one utterance at {rate} Hz, with the tools' "
        "input rules.",
        "",
        "With SpeechBrain (PyTorch: GPUs, fine-tuning):",
        "",
        "```python",
        "from speechbrain.inference.speaker import SpeakerRecognition",
        "model = SpeakerRecognition.from_hparams(",
        '    source="<this folder>", savedir="<cache folder>"',
        ")",
        "```",
        "",
        f"Decision threshold (cosine): {thr}"
        + (
            f", chosen at the `{point}` point of the validation trials"
            if point
            else ""
        )
        + ". `verify_files` always uses 0.25; `emoinv-verify --model <this "
        "folder> a.wav b.wav` honours the stored threshold.",
        "",
        "Load trusted model folders only: `hyperparams.yaml` can run code "
        "when loaded.",
        "",
    ]
    if meta.get("score_calibration"):
        cal = meta["score_calibration"]
        out += [
            f"Log-likelihood ratio: `llr = {cal['scale']:.4g} * score "
            f"{'-' if cal['offset'] < 0 else '+'} {abs(cal['offset']):.4g}` "
            "(`score_calibration`).",
            "",
        ]
    files = meta.get("files", [])
    if COHORT_FILE in files:
        out += [
            f"`{COHORT_FILE}` holds the first table's score-normalisation "
            "cohort (`ids`, `emb`): `speechbrain_emoinv.scoring.score_all("
            "emb, enrol, test, cohort=torch.load(path)['emb'])` reproduces "
            "that table's s-norm / AS-norm scores. A cohort should be of "
            "the speech it normalises: for other speech take one of your "
            "own (`emoinv-eval` uses the evaluated folder's `train` split).",
            "",
        ]
    out += [
        "## Deployment (TorchScript, ONNX)",
        "",
        "`emoinv-export --model <this folder> --format onnx` (or "
        f"`torchscript`) writes `{FORMAT_FILES['onnx']}` (or "
        f"`{FORMAT_FILES['torchscript']}`) into the folder, checked "
        "against PyTorch (1 - cosine of each embedding and the change of "
        f"each score, at most {PARITY_TOL:g}): one mono utterance `(1, T)` "
        f"at {TARGET_SR} Hz to its embedding `(1, D)`; compare embeddings "
        "by cosine. The TorchScript file checks its input itself: one mono "
        f"utterance of at least {MIN_SAMPLES} samples, all finite, else an "
        "error (the command-line tools instead average the channels and "
        "embed a shorter clip with a warning), and a clip over "
        f"{WINDOW_SECONDS:g} s embedded as the mean of equal windows of at "
        f"most {WINDOW_SECONDS:g} s (bounded memory), as the tools do. The "
        "ONNX graph cannot hold these rules; with onnxruntime alone, apply "
        "them as here. "
        "The file records the checkpoint it was made from "
        f"(`{FINGERPRINT_KEY}`): the tools ignore a stale one.",
        "",
        "```python",
        "import numpy, onnxruntime, soundfile",
        "",
        "opts = onnxruntime.SessionOptions()",
        "opts.intra_op_num_threads = 2  # CPU cores to use",
        "session = onnxruntime.InferenceSession("
        f'"{FORMAT_FILES["onnx"]}", opts)',
        "",
        "",
        "def embed(path):",
        '    wav, sr = soundfile.read(path, dtype="float32", always_2d=True)',
        f"    if sr != {TARGET_SR}:",
        f'        raise ValueError(f"{{path}}: {{sr}} Hz, not {TARGET_SR}")',
        "    wav = wav.mean(axis=1)  # mono: the mean of the channels",
        f"    if wav.size < {MIN_SAMPLES} or not numpy.isfinite(wav).all():",
        '        raise ValueError(f"{path}: too short, or NaN / inf samples")',
        f"    n = -(-wav.size // {int(WINDOW_SECONDS * TARGET_SR)})"
        f"  # windows of at most {WINDOW_SECONDS:g} s",
        "    embs = [",
        '        session.run(None, {"wav": w[None]})[0]',
        "        for w in numpy.array_split(wav, n)",
        "    ]",
        "    return numpy.mean(embs, axis=0)  # (1, D); compare by cosine",
        "",
        "",
        'emb = embed("a.wav")',
        "```",
        "",
    ]
    out += ["## Security", "", TRUST_NOTE, ""]
    if not any("licen" in str(k).lower() for k in sections):
        out += [
            "## Licence",
            "",
            "Code: Apache-2.0. The weights inherit the terms of the "
            "training corpora listed above.",
            "",
        ]
    out += ["## Citation", "", CITATIONS, ""]
    return "\n".join(out)


def write_model_card(model_dir, model_card=None, evaluations=()):
    """(Re)writes ``README.md`` of an exported folder from its files.

    Called after the evaluations, so the card carries their tables; the
    threshold, operating point and calibration are read from the folder.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder.
    model_card : dict or None
        See ``render_model_card``.
    evaluations : sequence of dict
        ``results.json`` of each evaluation (see ``render_model_card``).

    Returns
    -------
    Path
        The card.
    """
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    meta["files"] = sorted(p.name for p in model_dir.iterdir())
    text = render_model_card(
        model_card, meta.get("verification_threshold"), evaluations, meta
    )
    return write_text(model_dir / CARD_FILE, text)
