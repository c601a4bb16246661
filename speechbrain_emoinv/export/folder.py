"""Writes a trained speaker encoder as a SpeechBrain pretrained folder.

What the folder holds (file names, metadata, fingerprint, loading) is
:mod:`speechbrain_emoinv.pretrained`; its model card is written by
:mod:`speechbrain_emoinv.export.model_card`.

The pretrainer carries no ``paths``: a hub path there would override the
local source and send the loader to the network.

Authors
 * speechbrain-emoinv contributors 2025
"""

import os
import shutil
from pathlib import Path

import torch

from speechbrain_emoinv.atomic_files import (
    leftovers,
    replace_folder,
    torch_save,
    write_errors_named,
)
from speechbrain_emoinv.export.model_card import (
    render_model_card,
    write_model_card,
)
from speechbrain_emoinv.pretrained import (
    CKPT_FILE,
    COHORT_FILE,
    HPARAMS_FILE,
    yaml_flow,
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
    thr = "null" if threshold is None else yaml_flow(float(threshold))
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
    lines += [f"    {k}: {yaml_flow(v)}" for k, v in kwargs.items()]
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
        lines += [f"{k}: {yaml_flow(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


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
