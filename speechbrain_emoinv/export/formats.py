"""The deployable formats of an exported folder: its embedding path
(waveform -> embedding) as TorchScript or ONNX, checked against PyTorch.

Authors
 * speechbrain-emoinv contributors 2025
"""

import copy
import importlib.util
import math
import warnings
from pathlib import Path

import torch

from speechbrain_emoinv.atomic_files import atomic_path, write_errors_named
from speechbrain_emoinv.data.audio_checks import (
    MIN_DURATION,
    TARGET_SR,
    WINDOW_SECONDS,
)
from speechbrain_emoinv.pretrained import (
    FINGERPRINT_KEY,
    FORMAT_FILES,
    load_model,
    read_metadata,
)

# Parity of an exported format with PyTorch, judged on what is used:
# 1 - cosine of each embedding and the change of each cosine score of a
# held-out list. An absolute difference of unnormalised embeddings is not:
# it grows with their norm (~77 for the main model, where a float32
# difference of 1e-4 is 1 - cos ~ 1e-7).
PARITY_TOL = 1e-4


# Shortest input of the deployable files (the preparers skip shorter
# clips; the ECAPA-TDNN cannot embed under ~0.05 s).
MIN_SAMPLES = int(MIN_DURATION * TARGET_SR)


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
        The loaded folder (``pretrained.load_model``).

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
    """Input checks around a traced ``EmbeddingPipeline``, for
    ``torch.jit.script``: the deployable TorchScript file windows long
    clips as the command-line tools do, and refuses what they refuse or
    convert and count (several channels, a clip under ``min_len``).

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


# Lengths (s) of the parity check's signals: none is the traced one (1 s).
CHECK_SECONDS = (1.3, 2.2, 3.7, 5.1)


def export_format(
    model_dir,
    fmt,
    out_path=None,
    batch_size=1,
):
    """Writes the embedding path of an exported folder as TorchScript or
    ONNX and checks it against PyTorch.

    The input is ``batch_size`` utterances ``(batch_size, T)`` of one
    length T at the folder's sample rate (one mono utterance ``(1, T)`` by
    default); the output their embeddings ``(batch_size, D)``. TorchScript
    checks its input itself (:class:`CheckedEmbedding`); the ONNX graph
    cannot, and the model card shows the checks around onnxruntime.
    The file records the folder's :func:`model_fingerprint` (ONNX
    metadata / TorchScript extra file ``model_fingerprint``), so a loader
    can tell a stale file. The check embeds random signals of
    ``CHECK_SECONDS`` lengths (other than the one traced) with the
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
        for seconds in CHECK_SECONDS
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


# What ``torch.onnx.export(dynamo=True)`` and its check need.
ONNX_MODULES = ("onnx", "onnxscript", "onnxruntime")


def write_onnx(model_dir):
    """Writes a folder's ``embedding.onnx`` (the tools' fastest CPU path,
    ``benchmarks/bench_cost.py --part embedding``) with
    :func:`export_format`, when the ``[export]`` extra is installed.

    A training run calls it after exporting its folder: without the extra,
    or when the export fails, the folder still works through PyTorch, so
    it returns why there is no file instead of stopping the run.

    Arguments
    ---------
    model_dir : str or Path
        The run's exported folder; the file is written into it.

    Returns
    -------
    message : str
        One line for the log: the file written, or why it was not.
    """
    missing = [m for m in ONNX_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return (
            f"no {FORMAT_FILES['onnx']}: {', '.join(missing)} not installed "
            "(pip install 'speechbrain-emoinv[export]')"
        )
    try:
        path, parity = export_format(model_dir, "onnx")
    except Exception as err:  # any exporter failure: PyTorch still serves
        return (
            f"no {FORMAT_FILES['onnx']}: the ONNX export failed ({err}); "
            f"retry with `emoinv-export --model {model_dir} --format onnx`"
        )
    return f"wrote {path} (1 - cosine vs PyTorch {parity['cosine']:.1e})"


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
        # Their optimiser passes log thousands of DEBUG lines (log.txt).
        for name in ("onnxscript", "onnx_ir"):
            logging.getLogger(name).setLevel(logging.WARNING)
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
