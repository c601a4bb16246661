"""Exports a trained speaker encoder as a SpeechBrain pretrained folder.

The folder (layout in ``docs/interfaces.md``) is loaded, with no network,
by ``SpeakerRecognition.from_hparams(source=DIR, savedir=DIR2)``::

    hyperparams.yaml      features, normalisation, ECAPA, pretrainer,
                          verification_threshold and metadata keys
    embedding_model.ckpt  state dict (loadable with ``weights_only=True``)
    README.md             model card (hub-style metadata header)
    cohort_embeddings.pt  optional: the score-normalisation cohort
    embedding.onnx / embedding.torchscript.pt   optional deployment formats
                          (``emoinv-export``)

The pretrainer carries no ``paths``: a hub path there would override the
local source and send the loader to the network.

Authors
 * speechbrain-emoinv contributors 2025
"""

import copy
import math
import os
import shutil
import warnings
from pathlib import Path

import torch
import yaml

from speechbrain_emoinv.atomic_files import (
    atomic_path,
    leftovers,
    replace_folder,
    torch_save,
    write_errors_named,
    write_text,
)
from speechbrain_emoinv.data.audio_checks import (
    MIN_DURATION,
    TARGET_SR,
    WINDOW_SECONDS,
)

HPARAMS_FILE = "hyperparams.yaml"
CKPT_FILE = "embedding_model.ckpt"
CARD_FILE = "README.md"
COHORT_FILE = "cohort_embeddings.pt"
FORMAT_FILES = {
    "onnx": "embedding.onnx",
    "torchscript": "embedding.torchscript.pt",
}
# Metadata key of an exported ONNX / TorchScript file: the folder's
# model_fingerprint (checkpoint + hyperparameters) it was made from.
FINGERPRINT_KEY = "model_fingerprint"
# Parity of an exported format with PyTorch, judged on what is used:
# 1 - cosine of each embedding and the change of each cosine score of a
# held-out list. An absolute difference of unnormalised embeddings is not:
# it grows with their norm (~77 for the main model, where a float32
# difference of 1e-4 is 1 - cos ~ 1e-7).
PARITY_TOL = 1e-4
# Shortest input of the deployable files (the preparers skip shorter
# clips; the ECAPA-TDNN cannot embed under ~0.05 s).
MIN_SAMPLES = int(MIN_DURATION * TARGET_SR)

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

# Keys written by us; metadata in ``extra`` must not shadow them.
_RESERVED = {
    "sample_rate",
    "n_mels",
    "audio_normalizer",
    "compute_features",
    "mean_var_norm",
    "embedding_model",
    "modules",
    "pretrainer",
    "verification_threshold",
    "savedir",
}


def _flow(value):
    """Returns ``value`` as one line of YAML (flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20)
    # safe_dump ends a bare scalar with a document-end marker.
    return text.strip().removesuffix("...").strip()


def _state_dict(embedding_model):
    """CPU state dict of a module (DDP/DataParallel unwrapped) or a dict."""
    if isinstance(embedding_model, dict):
        state = embedding_model
    else:
        module = getattr(embedding_model, "module", embedding_model)
        state = module.state_dict()
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def render_hparams(
    embedding_kwargs,
    n_mels=80,
    sample_rate=16000,
    threshold=None,
    extra=None,
):
    """Returns the text of ``hyperparams.yaml`` for an ECAPA-TDNN encoder.

    Arguments
    ---------
    embedding_kwargs : dict
        Keyword arguments of ``ECAPA_TDNN`` (``input_size``, ``channels``,
        ``kernel_sizes``, ``dilations``, ``attention_channels``,
        ``lin_neurons``, ...). ``input_size`` defaults to ``n_mels``.
    n_mels : int
        Filterbank channels of ``Fbank``.
    sample_rate : int
        Sample rate the model expects; input audio is resampled to it.
    threshold : float or None
        Cosine decision threshold (``verification_threshold``); ``null``
        when None.
    extra : dict or None
        Metadata keys (JSON-like values) written at the end of the file.

    Returns
    -------
    str
        The YAML text.

    Example
    -------
    >>> text = render_hparams({"lin_neurons": 16}, n_mels=40, threshold=0.3)
    >>> "verification_threshold: 0.3" in text
    True
    >>> "input_size: 40" in text
    True
    """
    kwargs = dict(embedding_kwargs)
    kwargs.setdefault("input_size", n_mels)
    if kwargs["input_size"] != n_mels:
        raise ValueError(
            f"embedding_kwargs input_size={kwargs['input_size']} differs "
            f"from n_mels={n_mels}"
        )
    bad = set(extra or {}) & _RESERVED
    if bad:
        raise ValueError(f"extra metadata shadows reserved keys: {sorted(bad)}")
    thr = "null" if threshold is None else _flow(float(threshold))
    lines = [
        "# Exported by speechbrain_emoinv.export: SpeechBrain pretrained",
        "# folder for SpeakerRecognition.from_hparams(source=<this dir>).",
        "",
        f"sample_rate: {int(sample_rate)}",
        f"n_mels: {int(n_mels)}",
        "",
        "audio_normalizer: !new:speechbrain.dataio.preprocess.AudioNormalizer",
        "    sample_rate: !ref <sample_rate>",
        "",
        "compute_features: !new:speechbrain.lobes.features.Fbank",
        "    n_mels: !ref <n_mels>",
        "    sample_rate: !ref <sample_rate>",
        "",
        "mean_var_norm: !new:speechbrain.processing.features.InputNormalization",
        "    norm_type: sentence",
        "    std_norm: False",
        "",
        "embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN",
    ]
    lines += [f"    {k}: {_flow(v)}" for k, v in kwargs.items()]
    lines += [
        "",
        "modules:",
        "    compute_features: !ref <compute_features>",
        "    mean_var_norm: !ref <mean_var_norm>",
        "    embedding_model: !ref <embedding_model>",
        "",
        "# No `paths`: files are taken from the source folder itself.",
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer",
        "    loadables:",
        "        embedding_model: !ref <embedding_model>",
        "",
        f"verification_threshold: {thr}",
    ]
    if extra:
        lines += ["", "# Metadata"]
        lines += [f"{k}: {_flow(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


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
        cosine, the actual DCF at the stored threshold and Cllr.

    Example
    -------
    >>> m = {"eer": 5.0, "min_dcf@0.01": 0.3, "act_dcf@0.01": 0.4}
    >>> r = {"lists": {"merged": {"n_trials": 10, "cosine": m}}}
    >>> print(evaluation_table(r).splitlines()[-1])
    | merged | cosine | 10 | 5.00 | 0.300 | 0.400 | - |
    """

    def cell(metrics, key, fmt):
        return format(metrics[key], fmt) if key in metrics else "-"

    lines = [
        "| list | scoring | trials | EER % | minDCF@0.01 | actDCF@0.01 "
        "| Cllr |",
        "|---|---|---|---|---|---|---|",
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
                f"{m['min_dcf@0.01']:.3f} | {cell(m, 'act_dcf@0.01', '.3f')}"
                f" | {cell(m, 'cllr', '.3f')} |"
            )
    return "\n".join(lines)


def render_model_card(model_card=None, threshold=None, results=None, meta=None):
    """Returns the model card markdown, with a hub-style metadata header.

    Arguments
    ---------
    model_card : dict or None
        ``title``, ``description``, ``datasets`` (keys of ``CORPORA``) and
        further sections (title -> text, dict or list).
    threshold : float or None
        Stored decision threshold, quoted in the usage section.
    results : dict or None
        ``results.json`` of the evaluation, for the evaluation table.
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
        out += [f"## {str(name).replace('_', ' ').capitalize()}", ""]
        if isinstance(body, dict):
            out += ["| key | value |", "| --- | --- |"]
            out += [f"| {k} | {_flow(v)} |" for k, v in body.items()]
        elif isinstance(body, list | tuple):
            out += [f"- {item}" for item in body]
        else:
            out.append(str(body))
        out.append("")
    out += ["## Evaluation", ""]
    if results:
        out += [
            f"Split `{results['split']}` of `{results['data_dir']}`; "
            "actual DCF at the stored threshold and Cllr of the stored "
            "calibration (cosine scoring; both were chosen on the "
            "validation speakers). AS-norm uses the training cohort.",
            "",
            evaluation_table(results),
            "",
        ]
    else:
        out += ["Not evaluated yet.", ""]
    thr = "not set (0.25 fallback)" if threshold is None else f"{threshold}"
    point = meta.get("operating_point")
    rate = meta.get("sample_rate", 16000)
    out += [
        "## Usage",
        "",
        "On a CPU the fastest path is onnxruntime on "
        f"`{FORMAT_FILES['onnx']}` (see Deployment below): "
        "`emoinv-export --model <this folder> --format onnx` writes it, "
        "and `emoinv-verify`, `emoinv-eval` and `emoinv-embed` then use it "
        "(`--backend auto`). With onnxruntime alone, one mono utterance "
        f"per call at {rate} Hz:",
        "",
        "```python",
        "import onnxruntime, soundfile",
        "opts = onnxruntime.SessionOptions()",
        "opts.intra_op_num_threads = 2  # CPU cores to use",
        "session = onnxruntime.InferenceSession("
        f'"{FORMAT_FILES["onnx"]}", opts)',
        'wav, sr = soundfile.read("a.wav", dtype="float32")',
        'emb = session.run(None, {"wav": wav[None]})[0]  # (1, D)',
        "```",
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
            f"Log-likelihood ratio: `llr = {cal['scale']:.4g} * score + "
            f"{cal['offset']:.4g}` (`score_calibration`).",
            "",
        ]
    files = meta.get("files", [])
    if COHORT_FILE in files:
        out += [
            f"`{COHORT_FILE}` holds the score-normalisation cohort "
            "(`ids`, `emb`) used for s-norm / AS-norm in the evaluation: "
            "`speechbrain_emoinv.scoring.score_all(emb, enrol, test, "
            "cohort=torch.load(path)['emb'])` reproduces its scores.",
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
        "by cosine. The TorchScript file applies the input rules of the "
        "command-line tools itself: one mono utterance of at least "
        f"{MIN_SAMPLES} samples, finite samples, and a clip over "
        f"{WINDOW_SECONDS:g} s embedded as the mean of equal windows of at "
        f"most {WINDOW_SECONDS:g} s (bounded memory). The ONNX graph "
        "cannot hold them; with onnxruntime alone, apply them as here. "
        "The file records the checkpoint it was made from "
        f"(`{FINGERPRINT_KEY}`): the tools ignore a stale one.",
        "",
        "```python",
        "import numpy, onnxruntime, soundfile",
        "",
        f'session = onnxruntime.InferenceSession("{FORMAT_FILES["onnx"]}")',
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
        '    embs = [session.run(None, {"wav": w[None]})[0]'
        " for w in numpy.array_split(wav, n)]",
        "    return numpy.mean(embs, axis=0)  # (1, D)",
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


def write_model_card(model_dir, model_card=None, results=None):
    """(Re)writes ``README.md`` of an exported folder from its files.

    Called after the evaluation, so the card carries its table; the
    threshold, operating point and calibration are read from the folder.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder.
    model_card : dict or None
        See ``render_model_card``.
    results : dict or None
        ``results.json`` of the evaluation.

    Returns
    -------
    Path
        The card.
    """
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    meta["files"] = sorted(p.name for p in model_dir.iterdir())
    text = render_model_card(
        model_card, meta.get("verification_threshold"), results, meta
    )
    return write_text(model_dir / CARD_FILE, text)


def save_cohort(model_dir, ids, embeddings):
    """Stores the score-normalisation cohort in an exported folder.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder.
    ids : list of str
        Utterance ids of the cohort.
    embeddings : torch.Tensor
        ``(N, D)`` cohort embeddings of this model.

    Returns
    -------
    Path
        ``cohort_embeddings.pt`` (loadable with ``weights_only=True``).

    Example
    -------
    >>> d = getfixture("tmpdir")
    >>> path = save_cohort(d, ["a", "b"], torch.ones(2, 4))
    >>> torch.load(path, weights_only=True)["emb"].shape
    torch.Size([2, 4])
    """
    emb = torch.as_tensor(embeddings, dtype=torch.float32)
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise ValueError(
            f"cohort: {len(ids)} ids but embeddings of shape {tuple(emb.shape)}"
        )
    path = Path(model_dir) / COHORT_FILE
    return torch_save({"ids": list(ids), "emb": emb.contiguous()}, path)


def export_pretrained(
    out_dir,
    embedding_model,
    embedding_kwargs,
    n_mels=80,
    sample_rate=16000,
    threshold=None,
    model_card=None,
    extra=None,
):
    """Writes a pretrained folder for ``SpeakerRecognition.from_hparams``.

    Arguments
    ---------
    out_dir : str or Path
        Folder to write. It is built under a temporary name and swapped in
        whole (an existing folder is replaced, files of an earlier export
        such as ``embedding.onnx`` with it): never half-written.
    embedding_model : torch.nn.Module or dict
        The ECAPA-TDNN (possibly DDP-wrapped) or its state dict.
    embedding_kwargs : dict
        Its ``ECAPA_TDNN`` constructor arguments; they must rebuild it.
    n_mels : int
        Fbank channels used in training.
    sample_rate : int
        Sample rate used in training.
    threshold : float or None
        Calibrated cosine threshold (``verification_threshold``).
    model_card : dict or None
        See ``render_model_card``.
    extra : dict or None
        Metadata keys for ``hyperparams.yaml`` (e.g. corpus, git commit,
        ``operating_point``, ``score_calibration``).

    Returns
    -------
    Path
        ``out_dir``.

    Example
    -------
    >>> from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    >>> kw = dict(
    ...     input_size=20,
    ...     channels=[8, 8, 8, 8, 24],
    ...     lin_neurons=4,
    ...     attention_channels=4,
    ...     se_channels=4,
    ...     res2net_scale=2,
    ... )
    >>> out = export_pretrained(
    ...     getfixture("tmpdir") / "m", ECAPA_TDNN(**kw), kw, n_mels=20
    ... )
    >>> sorted(p.name for p in out.iterdir())
    ['README.md', 'embedding_model.ckpt', 'hyperparams.yaml']
    """
    out_dir = Path(out_dir)
    state = _state_dict(embedding_model)
    text = render_hparams(
        embedding_kwargs, n_mels, sample_rate, threshold, extra
    )
    # Rebuild from the text before writing: a mismatch fails here, not at
    # load time on a user's machine.
    from hyperpyyaml import load_hyperpyyaml

    ref = load_hyperpyyaml(text)["embedding_model"].state_dict()
    bad = sorted(set(ref) ^ set(state))
    bad += [k for k in ref if k in state and ref[k].shape != state[k].shape]
    if bad:
        raise ValueError(
            f"embedding_kwargs do not rebuild the model: keys {bad[:5]} "
            "are missing, unexpected or of another shape"
        )
    render_model_card(model_card)  # a bad card fails before any write
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for old in leftovers(out_dir):  # of a killed export
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    try:
        with write_errors_named(out_dir):
            tmp.mkdir()
            torch.save(state, tmp / CKPT_FILE)
            (tmp / HPARAMS_FILE).write_text(text, encoding="utf-8")
            write_model_card(tmp, model_card)
            replace_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def read_metadata(model_dir):
    """Reads the plain keys of an exported ``hyperparams.yaml``.

    Object-building keys (tagged ``!new``/``!ref``) are skipped, so this
    needs neither torch modules nor the network.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder; only its ``hyperparams.yaml`` is read.

    Returns
    -------
    dict
        Plain keys, e.g. ``verification_threshold``, ``sample_rate``.

    Example
    -------
    >>> d = getfixture("tmpdir")
    >>> _ = (d / "hyperparams.yaml").write(
    ...     render_hparams({}, 20, threshold=0.5, extra={"corpus": "x"})
    ... )
    >>> meta = read_metadata(d)
    >>> meta["verification_threshold"], meta["corpus"]
    (0.5, 'x')
    """
    path = Path(model_dir) / HPARAMS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no exported hyperparams.yaml")

    class _Skip(yaml.SafeLoader):
        pass

    _Skip.add_multi_constructor("!", lambda loader, suffix, node: None)
    meta = yaml.load(path.read_text(encoding="utf-8"), Loader=_Skip) or {}
    check_metadata(meta, path)
    return {
        k: v
        for k, v in meta.items()
        if v is not None or k == "verification_threshold"
    }


def check_metadata(meta, path):
    """Refuses an edited ``sample_rate`` or an impossible threshold.

    Every model here is trained on 16 kHz audio: another ``sample_rate``
    would make the loader resample input to it and compute features the
    model never saw. A cosine threshold lies in [-1, 1].

    Arguments
    ---------
    meta : dict
        Plain keys of ``hyperparams.yaml``.
    path : str or Path
        The file, named in the error.

    Example
    -------
    >>> check_metadata({"sample_rate": 16000}, "h.yaml")
    >>> check_metadata({"verification_threshold": 1.5}, "h.yaml")
    Traceback (most recent call last):
    ...
    ValueError: h.yaml: verification_threshold 1.5 is not a finite cosine threshold in [-1, 1]
    """
    rate = meta.get("sample_rate", TARGET_SR)
    if rate != TARGET_SR:
        raise ValueError(
            f"{path}: sample_rate {rate!r}, but the model was trained on "
            f"{TARGET_SR} Hz audio: restore sample_rate: {TARGET_SR} (input "
            "of other rates is resampled to it)"
        )
    thr = meta.get("verification_threshold")
    if thr is not None and not (
        isinstance(thr, int | float)
        and not isinstance(thr, bool)
        and -1.0 <= thr <= 1.0  # False for NaN
    ):
        raise ValueError(
            f"{path}: verification_threshold {thr!r} is not a finite cosine "
            "threshold in [-1, 1]"
        )


def model_fingerprint(model_dir):
    """Hash of an exported model's checkpoint and hyperparameters.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder.

    Returns
    -------
    str
        Hex digest (16 characters), stable across copies of the folder.

    Example
    -------
    >>> d = getfixture("tmpdir")
    >>> _ = (d / "hyperparams.yaml").write("a: 1\\n")
    >>> _ = (d / "embedding_model.ckpt").write("x")
    >>> len(model_fingerprint(d))
    16
    """
    from speechbrain_emoinv.scoring import files_digest

    model_dir = Path(model_dir)
    for name in (CKPT_FILE, HPARAMS_FILE):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{model_dir / name}: missing in export")
    return files_digest([model_dir / CKPT_FILE, model_dir / HPARAMS_FILE])


class ConvSTFT(torch.nn.Module):
    """SpeechBrain's ``STFT`` as a strided convolution with the windowed
    DFT basis: the same numbers (float32 rounding aside), but exported to
    ONNX as one ``Conv`` instead of onnxruntime's slow ``STFT`` operator
    (a quarter of the graph's time with it).

    Arguments
    ---------
    stft : speechbrain.processing.features.STFT
        The transform to copy (one-sided, 2-D input).

    Example
    -------
    >>> from speechbrain.processing.features import STFT
    >>> stft = STFT(sample_rate=16000)
    >>> wav = torch.randn(2, 8000)
    >>> torch.allclose(ConvSTFT(stft)(wav), stft(wav), atol=1e-4)
    True
    """

    def __init__(self, stft):
        super().__init__()
        if not stft.onesided:
            raise ValueError("ConvSTFT: one-sided STFTs only")
        n_fft, win = stft.n_fft, stft.win_length
        # torch.stft centres a shorter window inside the n_fft frame.
        window = torch.zeros(n_fft, dtype=torch.float64)
        left = (n_fft - win) // 2
        window[left : left + win] = stft.window.double()
        freq = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        phase = 2 * math.pi * freq * torch.arange(n_fft) / n_fft
        basis = torch.cat([torch.cos(phase), -torch.sin(phase)]) * window
        if stft.normalized_stft:
            basis = basis / math.sqrt(n_fft)
        self.register_buffer("basis", basis.float()[:, None], persistent=False)
        self.hop = stft.hop_length
        self.pad = n_fft // 2 if stft.center else 0
        self.pad_mode = stft.pad_mode

    def forward(self, x):
        """``x``: (batch, time) -> (batch, frames, n_fft // 2 + 1, 2)."""
        x = x.unsqueeze(1)
        if self.pad:
            x = torch.nn.functional.pad(x, (self.pad, self.pad), self.pad_mode)
        out = torch.nn.functional.conv1d(x, self.basis, stride=self.hop)
        batch, channels, frames = out.shape
        return out.reshape(batch, 2, channels // 2, frames).permute(0, 3, 2, 1)


class EmbeddingPipeline(torch.nn.Module):
    """Waveform -> speaker embedding, as one traceable module: the
    folder's ``Fbank`` (its STFT as a :class:`ConvSTFT`), sentence mean
    normalisation over the whole utterance (what ``InputNormalization(
    norm_type="sentence", std_norm=False)`` does without padding) and the
    ECAPA-TDNN.

    Arguments
    ---------
    compute_features : torch.nn.Module
        The folder's feature extractor (copied, not changed).
    embedding_model : torch.nn.Module
        The folder's ECAPA-TDNN.

    Example
    -------
    >>> from speechbrain.lobes.features import Fbank
    >>> from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    >>> ecapa = ECAPA_TDNN(20, channels=[8, 8, 8, 8, 24], lin_neurons=4)
    >>> pipe = EmbeddingPipeline(Fbank(n_mels=20), ecapa.eval())
    >>> pipe(torch.randn(1, 8000)).shape
    torch.Size([1, 4])
    """

    def __init__(self, compute_features, embedding_model):
        super().__init__()
        self.compute_features = copy.deepcopy(compute_features)
        stft = getattr(self.compute_features, "compute_STFT", None)
        if stft is not None:
            self.compute_features.compute_STFT = ConvSTFT(stft)
        self.embedding_model = embedding_model

    def forward(self, wav):
        """``wav``: (B, T) utterances of equal length T at the model's rate
        -> (B, D)."""
        feats = self.compute_features(wav)
        feats = feats - feats.mean(dim=1, keepdim=True)
        return self.embedding_model(feats).squeeze(1)


def embedding_pipeline(model):
    """``EmbeddingPipeline`` of a loaded ``SpeakerRecognition`` folder.

    Arguments
    ---------
    model : speechbrain.inference.speaker.SpeakerRecognition
        The loaded folder (``evaluation.embedding.load_model``).

    Returns
    -------
    EmbeddingPipeline
        In eval mode, on the CPU.
    """
    norm = model.mods.mean_var_norm
    if (
        norm.norm_type != "sentence"
        or norm.std_norm
        or "mean_var_norm_emb" in (model.mods)
    ):
        raise ValueError(
            "export formats support sentence mean normalisation only "
            "(norm_type: sentence, std_norm: False, no mean_var_norm_emb)"
        )
    return (
        EmbeddingPipeline(
            model.mods.compute_features, model.mods.embedding_model
        )
        .to("cpu")
        .eval()
    )


class CheckedEmbedding(torch.nn.Module):
    """The command-line tools' input rules around a traced
    ``EmbeddingPipeline``, for ``torch.jit.script``: the deployable
    TorchScript file refuses what the tools refuse and windows what they
    window.

    - ``batch_size`` mono utterances ``(batch_size, T)`` (one by default):
      a ``(2, T)`` input to a file of one is refused, not taken as two
      utterances (average the channels first);
    - at least ``min_len`` samples, all finite (NaN or inf is an error,
      not a NaN embedding);
    - over ``max_len`` samples: the mean of the embeddings of
      ``ceil(T / max_len)`` equal windows, as ``embedding.embed_rows``
      does (memory bounded whatever the length).

    Arguments
    ---------
    pipeline : torch.nn.Module
        ``(1, T) -> (1, D)`` (traced ``EmbeddingPipeline``).
    max_len : int
        Longest window, in samples.
    min_len : int
        Shortest input, in samples.
    batch_size : int
        Utterances per call (the traced batch size).

    Example
    -------
    >>> pipe = torch.nn.AdaptiveAvgPool1d(4)  # (1, T) -> (1, 4)
    >>> checked = CheckedEmbedding(pipe, max_len=16000, min_len=1600)
    >>> checked(torch.ones(1, 40000))  # mean of 3 windows
    tensor([[1., 1., 1., 1.]])
    >>> checked(torch.full((1, 8000), float("nan")))
    Traceback (most recent call last):
    ...
    ValueError: the waveform holds NaN or inf samples
    """

    def __init__(
        self, pipeline, max_len: int, min_len: int, batch_size: int = 1
    ):
        super().__init__()
        self.pipeline = pipeline
        self.max_len = max_len
        self.min_len = min_len
        self.batch_size = batch_size

    def forward(self, wav):
        """``wav``: (batch_size, T) float waveforms at the model's rate
        -> (batch_size, D)."""
        if wav.dim() != 2 or wav.size(0) != self.batch_size:
            raise ValueError(
                "expected one mono utterance per row, shape "
                f"({self.batch_size}, T): average the channels first"
            )
        if wav.size(1) < self.min_len:
            raise ValueError(
                f"utterance of {wav.size(1)} samples, fewer than {self.min_len}"
            )
        if not bool(torch.isfinite(wav).all()):
            raise ValueError("the waveform holds NaN or inf samples")
        n = (wav.size(1) + self.max_len - 1) // self.max_len
        embs = [self.pipeline(w) for w in torch.tensor_split(wav, n, dim=1)]
        return torch.stack(embs).mean(dim=0)


def export_format(
    model_dir,
    fmt,
    out_path=None,
    check_seconds=(1.3, 2.2, 3.7, 5.1),
    batch_size=1,
):
    """Writes the embedding path of an exported folder as TorchScript or
    ONNX and checks it against PyTorch.

    The input is ``batch_size`` utterances ``(batch_size, T)`` of one
    length T at the folder's sample rate (one mono utterance ``(1, T)`` by
    default); the output their embeddings ``(batch_size, D)``. TorchScript
    applies the tools' input rules itself (:class:`CheckedEmbedding`); the
    ONNX graph cannot, and the model card shows them around onnxruntime.
    The file records the folder's :func:`model_fingerprint` (ONNX
    metadata / TorchScript extra file ``model_fingerprint``), so a loader
    can tell a stale file. The check embeds random signals of
    ``check_seconds`` lengths (other than the one traced) with the
    folder's ``SpeakerRecognition.encode_batch`` and with the written
    file, and compares what verification uses: 1 - cosine of each pair of
    embeddings, and the cosine score of every pair of signals (a held-out
    trial list). Above ``PARITY_TOL`` it is an error. The file is written
    and checked under a temporary name: a failed export leaves nothing
    under ``out_path``.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder (trusted: it is loaded).
    fmt : str
        ``torchscript`` or ``onnx`` (needs the ``[export]`` extra).
    out_path : str or Path or None
        Output file (default: ``FORMAT_FILES[fmt]`` in the folder).
    check_seconds : sequence of float
        Lengths of the parity signals.
    batch_size : int
        Utterances per call, fixed in the file (1 for the folder's file;
        the speed benchmark also times batches).

    Returns
    -------
    out_path : Path
        The written file.
    parity : dict
        ``cosine`` (largest 1 - cosine of an embedding) and ``score``
        (largest change of a score).
    """
    from speechbrain_emoinv.evaluation.embedding import load_model

    if fmt not in FORMAT_FILES:
        raise ValueError(f"unknown format {fmt!r}: {', '.join(FORMAT_FILES)}")
    model_dir = Path(model_dir)
    out_path = Path(out_path or model_dir / FORMAT_FILES[fmt])
    model = load_model(model_dir)
    pipe = embedding_pipeline(model)
    rate = int(read_metadata(model_dir).get("sample_rate", TARGET_SR))
    gen = torch.Generator().manual_seed(0)
    example = 0.1 * torch.randn(batch_size, rate, generator=gen)
    signals = [
        0.1 * torch.randn(batch_size, int(seconds * rate), generator=gen)
        for seconds in check_seconds
    ]
    meta = {FINGERPRINT_KEY: model.fingerprint}
    with atomic_path(out_path) as tmp, torch.no_grad():
        if fmt == "torchscript":
            # Tracer notes on SpeechBrain, deprecation notes on torch.jit.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(pipe, (example,))
                checked = CheckedEmbedding(
                    traced, int(WINDOW_SECONDS * rate), MIN_SAMPLES, batch_size
                )
                scripted = torch.jit.script(checked)
                with write_errors_named(out_path):
                    torch.jit.save(scripted, str(tmp), _extra_files=meta)
                run = torch.jit.load(str(tmp)).eval()
        else:
            _export_onnx(pipe, example, tmp, out_path, meta)
            import onnxruntime

            session = onnxruntime.InferenceSession(str(tmp))

            def run(wav):
                out = session.run(None, {"wav": wav.numpy()})[0]
                return torch.from_numpy(out)

        want = torch.cat([model.encode_batch(w).squeeze(1) for w in signals])
        got = torch.cat([run(w) for w in signals])
        parity = parity_gaps(want, got)
        if not max(parity.values()) <= PARITY_TOL:
            raise RuntimeError(
                f"{out_path}: {fmt} embeddings differ from PyTorch: 1 - cosine "
                f"{parity['cosine']:.2e}, score change {parity['score']:.2e}"
                f" (tolerance {PARITY_TOL:g})"
            )
    return out_path, parity


def parity_gaps(want, got):
    """How far embeddings ``got`` are from ``want`` for verification.

    Arguments
    ---------
    want, got : torch.Tensor
        ``(N, D)`` embeddings of the same N signals.

    Returns
    -------
    dict
        ``cosine``: largest 1 - cos(want_i, got_i); ``score``: largest
        change of the cosine score of a pair (i, j), i < j.

    Example
    -------
    >>> e = torch.randn(3, 8)
    >>> gaps = parity_gaps(e, 1000 * e)  # scale changes no score
    >>> gaps["cosine"] < 1e-6 and gaps["score"] < 1e-6
    True
    >>> parity_gaps(e, e.flip(0))["score"] > 0
    True
    """
    norm = torch.nn.functional.normalize
    want, got = norm(want.double(), dim=1), norm(got.double(), dim=1)
    cosine = 1 - (want * got).sum(dim=1)
    i, j = torch.triu_indices(len(want), len(want), offset=1)
    scores = (want[i] * want[j]).sum(1) - (got[i] * got[j]).sum(1)
    return {
        "cosine": float(cosine.abs().max()),
        "score": float(scores.abs().max()) if len(i) else 0.0,
    }


def _export_onnx(pipe, example, tmp, out_path, metadata):
    """ONNX through ``torch.export`` (the TorchScript-based exporter
    cannot take ``Fbank``'s complex STFT); the time axis is dynamic, the
    batch size that of ``example`` (SpeechBrain's ``length_to_mask`` fixes
    it)."""
    import logging

    time = torch.export.Dim("time", min=1600, max=16000 * 3600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            pipe,
            (example,),
            input_names=["wav"],
            output_names=["embedding"],
            dynamic_shapes=({1: time},),
            dynamo=True,
            verbose=False,
        )
    program.model.metadata_props.update(metadata)
    with write_errors_named(out_path):
        program.save(str(tmp))


def file_fingerprint(path):
    """The :func:`model_fingerprint` an exported ONNX or TorchScript file
    records (None when it records none).

    Arguments
    ---------
    path : str or Path
        ``embedding.onnx`` (read with onnxruntime) or
        ``embedding.torchscript.pt``.

    Returns
    -------
    str or None
    """
    path = Path(path)
    if path.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"]
        )
        return session.get_modelmeta().custom_metadata_map.get(FINGERPRINT_KEY)
    extra = {FINGERPRINT_KEY: b""}  # left as is when the file has none
    torch.jit.load(str(path), _extra_files=extra)
    return bytes(extra[FINGERPRINT_KEY]).decode() or None
