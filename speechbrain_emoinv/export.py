"""Exports a trained speaker encoder as a SpeechBrain pretrained folder.

The folder (layout in ``docs/interfaces.md``) is loaded, with no network,
by ``SpeakerRecognition.from_hparams(source=DIR, savedir=DIR2)``::

    hyperparams.yaml      features, normalisation, ECAPA, pretrainer,
                          verification_threshold and metadata keys
    embedding_model.ckpt  state dict (loadable with ``weights_only=True``)
    README.md             model card

The pretrainer carries no ``paths``: a hub path there would override the
local source and send the loader to the network.

Authors
 * speechbrain-emoinv contributors 2025
"""

from pathlib import Path

import torch
import yaml

HPARAMS_FILE = "hyperparams.yaml"
CKPT_FILE = "embedding_model.ckpt"
CARD_FILE = "README.md"

LICENCE_NOTE = (
    "Training audio synthesised with MBROLA diphone voices is covered by "
    "the MBROLA voice licences: non-free, research and non-commercial use "
    "only. A model trained on it inherits that restriction; do not use it "
    "commercially. Other corpora (ESD, CREMA-D, RAVDESS, Dusha, VoxCeleb) "
    "carry their own licences."
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


def render_model_card(model_card=None, threshold=None):
    """Returns the model card markdown.

    Arguments
    ---------
    model_card : dict or str or None
        Markdown text used as is, or a dict of sections (title -> text,
        dict or list); keys ``title`` and ``description`` go on top.
    threshold : float or None
        Stored decision threshold, quoted in the usage section.

    Returns
    -------
    str
        Markdown text; a licence section is always present.

    Example
    -------
    >>> card = render_model_card({"data": "toy", "metrics": {"EER": 1.5}})
    >>> "## Metrics" in card and "| EER | 1.5 |" in card
    True
    >>> "non-commercial" in card
    True
    """
    if isinstance(model_card, str):
        card = model_card.rstrip() + "\n"
        if "licen" not in card.lower():
            card += f"\n## Licence\n\n{LICENCE_NOTE}\n"
        return card
    sections = dict(model_card or {})
    title = sections.pop("title", "Emotion-invariant ECAPA-TDNN speaker model")
    desc = sections.pop(
        "description",
        "Speaker embeddings trained with CopyPaste parallel samples, a "
        "cosine pair loss (ERL) and emotion-aware energy masking "
        "(arXiv 2505.18498).",
    )
    out = [f"# {title}", "", desc, ""]
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
    thr = "not set (0.25 fallback)" if threshold is None else f"{threshold}"
    out += [
        "## Usage",
        "",
        "```python",
        "from speechbrain.inference.speaker import SpeakerRecognition",
        "model = SpeakerRecognition.from_hparams(",
        '    source="<this folder>", savedir="<cache folder>"',
        ")",
        "```",
        "",
        f"Decision threshold (cosine): {thr}. `verify_files` always uses "
        "0.25; `emoinv-verify --model <this folder> a.wav b.wav` honours "
        "the stored threshold.",
        "",
        "Load trusted model folders only: `hyperparams.yaml` can run code "
        "when loaded.",
        "",
    ]
    if not any("licen" in str(k).lower() for k in sections):
        out += ["## Licence", "", LICENCE_NOTE, ""]
    return "\n".join(out)


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
        Folder to create (existing files are overwritten).
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
    model_card : dict or str or None
        See ``render_model_card``.
    extra : dict or None
        Metadata keys for ``hyperparams.yaml`` (e.g. corpus, git commit).

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
    out_dir.mkdir(parents=True, exist_ok=True)
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
    torch.save(state, out_dir / CKPT_FILE)
    (out_dir / HPARAMS_FILE).write_text(text, encoding="utf-8")
    (out_dir / CARD_FILE).write_text(
        render_model_card(model_card, threshold), encoding="utf-8"
    )
    return out_dir


def read_metadata(model_dir):
    """Reads the plain keys of an exported ``hyperparams.yaml``.

    Object-building keys (tagged ``!new``/``!ref``) are skipped, so this
    needs neither torch modules nor the network.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder.

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
    return {
        k: v
        for k, v in meta.items()
        if v is not None or k == "verification_threshold"
    }


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
