"""Contracts of invariance: what padding, batching and export must not
change.

- Concatenating padded batches (``pad_cat``: anchors + parallels) keeps
  every row's valid samples, with relative lengths that still name them.
- Emotion-aware masking lands on the same content whether the parallels'
  features are padded to a longer anchor batch or not.
- An utterance's embedding does not depend on its batch mates: in a batch
  it is the one the model gives it alone at the same padding; and alone it
  is the same through the exported TorchScript and ONNX files.

Padding itself moves an ECAPA-TDNN embedding a little (convolutions near
the end see it; SpeechBrain counts a partly padded last frame as valid),
which ``embed_rows`` bounds by batching lengths within 2 %: the batch
contract is therefore checked at equal padding, where it is exact.
Expectations are counted (valid samples, loud frames placed by
construction) or computed on each utterance alone.
"""

import numpy as np
import pytest
import soundfile as sf
import torch
from speechbrain.augment.time_domain import SpeedPerturb
from speechbrain.lobes.features import Fbank
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.emotion_masking import EmotionAwareMasking, frame_rms
from speechbrain_emoinv.evaluation.embedding import embed_rows, load_row
from speechbrain_emoinv.export.formats import (
    PARITY_TOL,
    export_format,
    parity_gaps,
)
from speechbrain_emoinv.pipelines import pad_cat
from speechbrain_emoinv.pretrained import load_model

HOP = 160  # Fbank hop (10 ms at 16 kHz)


def _padded(lengths, width, gen):
    """Random rows of the given valid lengths, zero-padded to ``width``."""
    wavs = torch.randn(len(lengths), width, generator=gen)
    for i, n in enumerate(lengths):
        wavs[i, n:] = 0.0
    return wavs, torch.tensor(lengths, dtype=torch.float) / width


@pytest.mark.parametrize(
    "anchor_lens, anchor_width, parallel_lens, parallel_width",
    [
        ([16000, 12000, 9000], 16000, [8000, 6000, 7999], 8000),  # wider
        ([8000, 5000], 8000, [16000, 11000], 16000),  # narrower
        ([7000, 7000], 7000, [7000, 3000], 7000),  # same width
        ([3001], 4000, [2999, 4000, 17], 5000),  # odd sizes
    ],
)
def test_pad_cat_keeps_every_row_and_its_valid_samples(
    anchor_lens, anchor_width, parallel_lens, parallel_width
):
    gen = torch.Generator().manual_seed(0)
    parts = [
        _padded(anchor_lens, anchor_width, gen),
        _padded(parallel_lens, parallel_width, gen),
    ]
    wavs, lens = pad_cat(parts)
    width = max(anchor_width, parallel_width)
    assert wavs.shape == (len(anchor_lens) + len(parallel_lens), width)
    sources = [*parts[0][0], *parts[1][0]]
    valid = anchor_lens + parallel_lens
    for i, (src, n) in enumerate(zip(sources, valid, strict=True)):
        # the relative length names exactly the row's n valid samples
        assert round(float(lens[i]) * width) == n, i
        assert torch.equal(wavs[i, :n], src[:n]), i
        assert not wavs[i, n:].any(), f"row {i}: padding is not silent"


def _loud_frames(n_rows, width, bursts, gen):
    """Quiet rows with loud stretches covering exactly the given frames
    (a frame's 400-sample window lies inside its burst)."""
    wavs = 0.001 * torch.randn(n_rows, width, generator=gen)
    for row, (a, b) in enumerate(bursts):
        s0, s1 = a * HOP - 200, (b - 1) * HOP + 200
        wavs[row, s0:s1] = torch.randn(s1 - s0, generator=gen)
    return wavs


@pytest.mark.parametrize("speed", [None, 90, 110])
@pytest.mark.parametrize("anchor_width", [16000, 28000, 40000])
def test_em_masks_the_loud_frames_whatever_the_batch_padding(
    speed, anchor_width
):
    """The parallels (clean, 1 s wide) are concatenated with anchors of
    1, 1.75 or 2.5 s, as ``pad_cat`` does in the recipe, and possibly
    speed-perturbed: the masked feature frames are where each parallel is
    loud, not stretched over the anchors' padding."""
    gen = torch.Generator().manual_seed(1)
    clean_n = [16000, 12000, 9600]
    bursts = [(60, 70), (20, 30), (40, 50)]  # 10 loud frames each
    clean = _loud_frames(3, 16000, bursts, gen)
    for i, n in enumerate(clean_n):
        clean[i, n:] = 0.0
    clean_lens = torch.tensor(clean_n, dtype=torch.float) / 16000
    anchors = _padded(
        [anchor_width, anchor_width // 2, 9000], anchor_width, gen
    )
    wavs, lens = pad_cat([anchors, (clean, clean_lens)])
    if speed is not None:
        wavs = SpeedPerturb(orig_freq=16000, speeds=[speed])(wavs)
    feats = Fbank(n_mels=40)(wavs)[3:]
    n_frames = [n // HOP + 1 for n in clean_n]
    for row, n_valid in enumerate(n_frames):
        # exactly the 10 loud frames of this row are asked for
        ratio = (10 / n_valid, 10 / n_valid)
        em = EmotionAwareMasking(mask_ratio=ratio, prob=1.0)
        one = slice(row, row + 1)
        out = em(feats[one], clean[one], clean_lens[one], lens[3:][one])
        masked = (out[0] != feats[row]).any(-1).nonzero().squeeze(1).tolist()
        if speed is None:
            assert masked == list(range(*bursts[row])), (row, masked)
        else:  # the loud frames of the perturbed row, measured on it
            assert 8 <= len(masked) <= 12, (row, masked)
            rms = frame_rms(wavs[3:][one])[0]
            loud = set(rms.topk(len(masked)).indices.tolist())
            assert len(loud & set(masked)) >= len(masked) - 2, (row, masked)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Toy utterances (0.4-0.8 s), a 2-s file to cut batch mates from,
    and a random tiny ECAPA-TDNN export."""
    root = tmp_path_factory.mktemp("invariance")
    data = make_toy_data(root / "d", n_train=0, n_eval=2, n_sentences=3)
    rows = read_manifest(data / "eval.csv")
    long_wav = root / "long.wav"
    noise = 0.1 * np.random.default_rng(0).standard_normal(32000)
    sf.write(long_wav, noise.astype(np.float32), 16000)
    long_row = dict(rows[0], ID="long", wav=str(long_wav), stop=32000)
    model_dir = make_toy_model(root / "m", n_mels=40)
    return rows, long_row, model_dir, load_model(model_dir)


def _one_minus_cos(a, b):
    return 1 - torch.nn.functional.cosine_similarity(a, b, dim=-1)


def test_batch_mates_do_not_change_an_embedding(toy):
    """Rows whose manifest durations are rounded (listed as 1 and 1.01 s)
    are batched together whatever their true lengths. Padded to 1.3x or
    1.8x its length by a longer batch mate (first in the batch), an
    utterance gets the embedding the model gives it alone at that padding,
    with its relative length: the mate and the padding never leak into
    it."""
    rows, long_row, _, model = toy
    for row in rows:
        wav = load_row(row, model)
        n = wav.shape[0]
        for f in (1.3, 1.8):
            mate = dict(long_row, duration="1.01", stop=int(f * n))
            got = embed_rows(
                model, [dict(row, duration="1.0"), mate], batch_size=2
            )[0]
            padded = torch.nn.functional.pad(wav, (0, int(f * n) - n))
            with torch.no_grad():
                want = model.encode_batch(
                    padded[None], torch.tensor([n / padded.shape[0]])
                ).reshape(-1)
            assert _one_minus_cos(got, want) < 1e-5, (row["ID"], f)


def test_embedding_alone_same_through_every_export_format(toy, tmp_path):
    """Every utterance alone: through ``embed_rows`` and through the
    TorchScript and ONNX files (to the export's parity tolerance)."""
    rows, _, model_dir, model = toy
    alone = embed_rows(model, rows, batch_size=1)
    for fmt in ("torchscript", "onnx"):
        path, _ = export_format(model_dir, fmt, tmp_path / fmt)
        if fmt == "torchscript":
            run = torch.jit.load(str(path))
        else:
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path))

            def run(wav, session=session):
                return torch.from_numpy(
                    session.run(None, {"wav": wav.numpy()})[0]
                )

        with torch.no_grad():
            got = torch.cat([run(load_row(r, model)[None]) for r in rows])
        gaps = parity_gaps(alone, got)
        assert max(gaps.values()) <= PARITY_TOL, (fmt, gaps)
