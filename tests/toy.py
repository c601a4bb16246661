"""A tiny fake prepared data folder and a tiny exported model.

For tests and smoke runs when no corpus is at hand: harmonic tones with a
speaker-specific pitch and spectral tilt, and an emotion-specific pitch
shift, vibrato and loudness. The layout is that of ``docs/interfaces.md``.

Authors
 * speechbrain-emoinv contributors 2025
"""

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

from speechbrain_emoinv.data.manifest import FIELDS

SAMPLE_RATE = 16000
SECONDS = 0.6  # base utterance length
TINY_ECAPA = dict(
    channels=[32, 32, 32, 32, 96],
    kernel_sizes=[5, 3, 3, 3, 1],
    dilations=[1, 2, 3, 4, 1],
    attention_channels=16,
    lin_neurons=16,
)
# pitch factor, vibrato depth, gain per emotion
STYLES = {
    "neutral": (1.0, 0.0, 0.5),
    "angry": (1.3, 0.02, 0.9),
    "happy": (1.2, 0.05, 0.7),
    "sad": (0.85, 0.01, 0.3),
}


def make_toy_model(out_dir, n_mels=40, seed=0, threshold=None):
    """Exports a randomly initialised tiny ECAPA-TDNN.

    Arguments
    ---------
    out_dir : str or Path
        Folder to write.
    n_mels : int
        Fbank channels.
    seed : int
        Initialisation seed.
    threshold : float or None
        Stored ``verification_threshold``.

    Returns
    -------
    Path
        ``out_dir``, as
        :func:`~speechbrain_emoinv.export.folder.export_pretrained` writes it.

    Example
    -------
    >>> d = make_toy_model(getfixture("tmpdir") / "m", threshold=0.5)
    >>> (d / "embedding_model.ckpt").is_file()
    True
    """
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    from speechbrain_emoinv.export.folder import export_pretrained

    kwargs = dict(TINY_ECAPA, input_size=n_mels)
    torch.manual_seed(seed)
    model = ECAPA_TDNN(**kwargs).eval()
    return export_pretrained(
        out_dir,
        model,
        kwargs,
        n_mels=n_mels,
        threshold=threshold,
        model_card={"data": "none (random initialisation, for tests)"},
        extra={"corpus": "toy"},
    )


def _tone(f0, tilt, pitch, vibrato, gain, seconds, sr, rng):
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * pitch * (1 + vibrato * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    h = np.arange(1, 9)[:, None]
    wave = (h**-tilt * np.sin(h * phase[None])).sum(0)
    wave += 0.05 * rng.standard_normal(t.size)
    return (gain * wave / np.abs(wave).max()).astype(np.float32)


def make_toy_data(
    root,
    n_train=4,
    n_eval=4,
    emotions=("neutral", "angry", "happy"),
    n_sentences=3,
):
    """Writes WAVs, manifests, speaker lists and eval trial lists.

    Utterances last about :data:`SECONDS` (+-30 %) at :data:`SAMPLE_RATE`;
    the same arguments give the same files.

    Arguments
    ---------
    root : str or Path
        The prepared data folder to create.
    n_train : int
        Training speakers (the cohort).
    n_eval : int
        Evaluation speakers.
    emotions : sequence of str
        Emotions (the first is neutral); each speaker reads every sentence
        in every emotion.
    n_sentences : int
        Sentences per emotion.

    Returns
    -------
    Path
        ``root``.

    Example
    -------
    >>> d = make_toy_data(getfixture("tmpdir") / "d", n_train=2, n_eval=2)
    >>> sorted(p.name for p in (d / "trials" / "eval").iterdir())
    ['cross.txt', 'emo_emo.txt', 'merged.txt', 'neutral.txt']
    """
    root = Path(root)
    rng = np.random.default_rng(0)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    speakers = {
        "train": [f"toy_t{i}" for i in range(n_train)],
        "valid": [],
        "eval": [f"toy_e{i}" for i in range(n_eval)],
    }
    rows = {}
    for split, spks in speakers.items():
        rows[split] = []
        for spk in spks:
            f0 = rng.uniform(90, 240)
            tilt = rng.uniform(0.5, 2.0)
            for emo in emotions:
                style = STYLES.get(emo, (1.1, 0.03, 0.6))
                for s in range(n_sentences):
                    sec = SECONDS * rng.uniform(0.7, 1.3)
                    wav = _tone(f0, tilt, *style, sec, SAMPLE_RATE, rng)
                    uid = f"{spk}_{emo}_{s}"
                    path = (root / "wav" / f"{uid}.wav").resolve()
                    sf.write(path, wav, SAMPLE_RATE)
                    rows[split].append(
                        [uid, f"{wav.size / SAMPLE_RATE:.3f}", str(path), 0]
                        + [wav.size, spk, emo, f"t{s}", "", "", "toy", 0]
                    )
        with open(root / f"{split}.csv", "w", newline="") as fout:
            writer = csv.writer(fout)
            writer.writerow(FIELDS)
            writer.writerows(rows[split])
        (root / f"{split}_speakers.txt").write_text(
            "".join(f"{s}\n" for s in spks)
        )
    _write_trials(root / "trials" / "eval", rows["eval"], emotions[0])
    return root


def _write_trials(folder, rows, neutral):
    """Every text-independent pair, split into the three categories."""
    folder.mkdir(parents=True, exist_ok=True)
    lists = {"neutral": [], "cross": [], "emo_emo": []}
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            if a[7] == b[7]:
                continue  # same sentence: not text-independent
            e, t = (a, b) if a[6] == neutral or b[6] != neutral else (b, a)
            if e[6] == neutral and t[6] == neutral:
                cat = "neutral"
            elif e[6] == neutral:
                cat = "cross"
            else:
                cat = "emo_emo"
            label = int(e[5] == t[5])
            lists[cat].append(f"{label} {e[0]} {t[0]} {e[6]} {t[6]}\n")
    lists["merged"] = lists["neutral"] + lists["cross"] + lists["emo_emo"]
    for name, lines in lists.items():
        (folder / f"{name}.txt").write_text("".join(lines))
