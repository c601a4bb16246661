"""The model-folder contract: what a SpeechBrain pretrained folder of ours
holds, and how it is read, fingerprinted and loaded.

The folder (layout in ``docs/interfaces.md``) is loaded, with no network,
by ``SpeakerRecognition.from_hparams(source=DIR, savedir=DIR2)``::

    hyperparams.yaml      sample_rate, n_mels, audio normaliser, features,
                          normalisation, ECAPA, pretrainer,
                          verification_threshold and metadata keys
                          (operating_point, score_calibration, datasets,
                          averaged_checkpoints, interpolation)
    embedding_model.ckpt  state dict (loadable with ``weights_only=True``)
    README.md             model card (hub-style metadata header)
    classifier.ckpt, label_encoder.txt   the classifier and its classes
                          (every recipe export)
    cohort_embeddings.pt  optional: the score-normalisation cohort
    embedding.onnx / embedding.torchscript.pt   optional deployment formats
                          (``emoinv-export``; the training run writes
                          ``embedding.onnx`` too, ``export_onnx``)

The writers are in :mod:`speechbrain_emoinv.export` (``folder``,
``model_card``, ``formats``); the evaluation and the command-line tools
read folders through this module. It imports none of them: only small
leaf modules of the package.

Authors
 * speechbrain-emoinv contributors 2025
"""

import tempfile
from pathlib import Path

import torch
import yaml

from speechbrain_emoinv.atomic_files import error_cause
from speechbrain_emoinv.data.audio_checks import TARGET_SR
from speechbrain_emoinv.finetune import mismatch_summary
from speechbrain_emoinv.scoring import files_digest

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
# Decision threshold of a folder that stores none.
DEFAULT_THRESHOLD = 0.25  # SpeechBrain's verify_batch default


def yaml_flow(value):
    """Returns ``value`` as one line of YAML (flow style), as
    ``hyperparams.yaml`` and the model card write it.

    Example
    -------
    >>> yaml_flow([1, 2]), yaml_flow(0.5)
    ('[1, 2]', '0.5')
    """
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20)
    # safe_dump ends a bare scalar with a document-end marker.
    return text.strip().removesuffix("...").strip()


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
    ...     "embedding_model: !new:torch.nn.Identity\\n"
    ...     "verification_threshold: 0.5\\ncorpus: x\\n"
    ... )
    >>> meta = read_metadata(d)
    >>> meta["verification_threshold"], meta["corpus"]
    (0.5, 'x')
    >>> "embedding_model" in meta  # object-building keys are skipped
    False
    """
    path = Path(model_dir) / HPARAMS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no exported hyperparams.yaml")

    class _Skip(yaml.SafeLoader):
        pass

    _Skip.add_multi_constructor("!", lambda loader, suffix, node: None)
    with path.open(encoding="utf-8") as f:  # a YAML error names the file
        meta = yaml.load(f, Loader=_Skip) or {}
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
    model_dir = Path(model_dir)
    for name in (CKPT_FILE, HPARAMS_FILE):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{model_dir / name}: missing in export")
    return files_digest([model_dir / CKPT_FILE, model_dir / HPARAMS_FILE])


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


def load_model(model_dir, savedir=None, device="cpu"):
    """Loads an exported folder, network-free, from its current files.

    SpeechBrain's loader reuses whatever ``<savedir>/<file>`` already
    exists, so a savedir shared by two models, or one copied along with a
    model folder, would give the other model's weights without a word.
    Here the files are read straight from ``model_dir`` (no links), and
    the loader's working folder is a fresh temporary folder outside
    ``model_dir`` (a read-only model folder loads), removed once loaded.

    Arguments
    ---------
    model_dir : str or Path
        Folder written by ``export_pretrained``. Load trusted folders
        only: ``hyperparams.yaml`` can run code.
    savedir : str or Path or None
        Parent of the temporary working folder (default: the system's
        temporary folder).
    device : str
        Torch device.

    Returns
    -------
    speechbrain.inference.speaker.SpeakerRecognition
        The model in eval mode; ``model.fingerprint`` is
        :func:`model_fingerprint` of ``model_dir`` taken before loading.
    """
    from speechbrain.inference.speaker import SpeakerRecognition
    from speechbrain.utils.fetching import FetchConfig, LocalStrategy

    model_dir = Path(model_dir).resolve()
    if not (model_dir / "hyperparams.yaml").is_file():
        raise FileNotFoundError(
            f"{model_dir}: not an exported model folder (no hyperparams.yaml)"
        )
    read_metadata(model_dir)  # refuses an edited sample rate or threshold
    key = model_fingerprint(model_dir)
    if savedir is not None:
        Path(savedir).mkdir(parents=True, exist_ok=True)
    ckpt = model_dir / CKPT_FILE
    with tempfile.TemporaryDirectory(prefix=f"emoinv-{key}-", dir=savedir) as w:
        try:
            model = SpeakerRecognition.from_hparams(
                source=str(model_dir),
                savedir=w,
                run_opts={"device": device},
                fetch_config=FetchConfig(allow_network=False),
                local_strategy=LocalStrategy.NO_LINK,
            )
        except Exception as err:
            if "size mismatch" in str(err):
                raise ValueError(
                    f"{ckpt} does not fit {model_dir / 'hyperparams.yaml'} "
                    f"({mismatch_summary(err)}): the two files come from "
                    "different models; export the folder again"
                ) from None
            _check_checkpoint(ckpt)
            raise
    _check_names(ckpt, model.mods.embedding_model, model_dir)
    model.eval()
    model.fingerprint = key
    return model


def _check_names(ckpt, module, model_dir):
    """Raises when the weights' names in ``ckpt`` differ from ``module``'s:
    SpeechBrain loads them non-strictly (a warning per name), so a
    checkpoint saved under other names would leave the network at its
    random initial weights."""
    saved = torch.load(ckpt, map_location="cpu", weights_only=True).keys()
    wanted = module.state_dict().keys()
    missing, unknown = sorted(wanted - saved), sorted(saved - wanted)
    if missing or unknown:
        raise ValueError(
            f"{ckpt} does not fit {model_dir / 'hyperparams.yaml'} "
            f"({len(missing)} of the model's weights missing, e.g. "
            f"{(missing or ['-'])[0]}; {len(unknown)} unknown, e.g. "
            f"{(unknown or ['-'])[0]}): the two files come from different "
            "models; export the folder again"
        )


def _check_checkpoint(path):
    """Raises naming ``path`` when it does not load (truncated, corrupt)."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"{path}: cannot be read ({error_cause(err)}): the file is "
            "truncated or corrupt; export or copy the model again"
        ) from None


def model_threshold(model_dir, override=None):
    """Decision threshold: override, else stored, else 0.25.

    Example
    -------
    >>> model_threshold("unused", 0.3)
    (0.3, 'given')
    """
    if override is not None:
        return override, "given"
    # read_metadata refuses a stored threshold outside [-1, 1] or NaN.
    stored = read_metadata(model_dir).get("verification_threshold")
    if stored is None:
        return DEFAULT_THRESHOLD, "default: none stored"
    return float(stored), "stored"
