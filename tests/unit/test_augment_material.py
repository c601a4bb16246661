"""Tests for speechbrain_emoinv.data.augment_material."""

import csv
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from speechbrain.augment.time_domain import AddNoise, AddReverb
from speechbrain.dataio.dataio import load_data_csv

from speechbrain_emoinv.data.augment_material import (
    PRE_DIRECT,
    coloured_noise,
    energy_decay_curve,
    estimate_rt60,
    make_noises,
    make_rirs,
    prepare_augment_material,
    simulate_rir,
)

FS = 16000
# One pure tone per babble speaker: babble made of them has energy there only
SPEAKER_TONES = {"spkA": 300.0, "spkB": 520.0, "spkC": 770.0, "spkD": 1010.0}
SPEAKER_TONES["spkE"] = 1390.0
FORBIDDEN_TONE = 3000.0  # lies in the file but outside the manifest segment


def _read_info(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _tone(freq, seconds, fs=FS):
    """A tone with smooth 20 ms ramps, so joins add no broadband clicks."""
    t = np.arange(int(seconds * fs)) / fs
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    ramp = int(0.02 * fs)
    window = np.hanning(2 * ramp)
    x[:ramp] *= window[:ramp]
    x[-ramp:] *= window[ramp:]
    return x


@pytest.fixture(scope="module")
def babble_manifest(tmp_path_factory):
    """Five speakers, two utterances each; one at 8 kHz, one a segment."""
    folder = tmp_path_factory.mktemp("sources")
    header = "ID,duration,wav,start,stop,spk_id,emotion,text_id,gender,lang"
    header += ",corpus,simulated"
    lines = [header]
    for spk, freq in SPEAKER_TONES.items():
        for k, seconds in enumerate((0.6, 0.9)):
            utt = f"{spk}_u{k}"
            fs = 8000 if spk == "spkE" else FS
            audio = _tone(freq, seconds, fs)
            start, stop = 0, audio.size
            if spk == "spkA" and k == 0:
                # The forbidden part follows the segment the manifest lists
                audio = np.concatenate([audio, _tone(FORBIDDEN_TONE, 0.5, fs)])
            path = folder / f"{utt}.wav"
            sf.write(path, audio, fs, subtype="PCM_16")
            lines.append(
                f"{utt},{seconds},{path},{start},{stop},{spk},neu,,,,fake,0"
            )
    manifest = folder / "train.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def rir_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rirs")
    make_rirs(out, n_rirs=6, seed=7)
    return out


@pytest.fixture(scope="module")
def noise_dir(tmp_path_factory, babble_manifest):
    out = tmp_path_factory.mktemp("noises")
    make_noises(
        out, n_noises=6, babble_sources=babble_manifest, seed=7, duration=2.0
    )
    return out


def test_rir_csv_and_files(rir_dir):
    csv_path = rir_dir / "rirs.csv"
    header = csv_path.read_text(encoding="utf-8").splitlines()[0]
    assert header == "ID,duration,wav,wav_format,wav_opts"
    rows = load_data_csv(csv_path)
    assert sorted(rows) == [f"rir_{i:04d}" for i in range(6)]
    for row in rows.values():
        rir, fs = sf.read(row["wav"])
        assert fs == FS and rir.ndim == 1
        assert rir.size / FS == pytest.approx(row["duration"], abs=1e-3)
        assert rir.size <= FS  # at most 1 s
        assert row["wav_format"] == "wav"


def test_rirs_peak_at_direct_path_and_decay(rir_dir):
    info = {r["ID"]: r for r in _read_info(rir_dir / "rirs_info.csv")}
    rows = load_data_csv(rir_dir / "rirs.csv")
    types = set()
    for utt_id, row in rows.items():
        rir, _ = sf.read(row["wav"])
        direct = int(info[utt_id]["direct_index"])
        assert direct == PRE_DIRECT
        assert int(np.argmax(np.abs(rir))) == direct
        assert np.abs(rir).max() == pytest.approx(1.0)
        tenth = rir.size // 10
        first = np.sum(rir[:tenth] ** 2)
        last = np.sum(rir[-tenth:] ** 2)
        assert last < 1e-3 * first
        # RT60 in the asked range (measured, not only the target)
        assert 0.15 < float(info[utt_id]["measured_rt60"]) < 1.2
        types.add(info[utt_id]["room_type"])
    assert types == {"office", "room", "hall"}


def test_rir_cut_at_minus_60_db():
    # Very absorptive room: the -60 dB point comes long before 1 s
    rir, _ = simulate_rir([4, 3, 2.5], 0.8, [1, 1, 1.2], [2.5, 2, 1.2])
    assert rir.size < 0.2 * FS
    # cut where the decay reaches -60 dB: just before the 10 ms fade-out,
    # the energy left is about -60 dB of the kept response's
    edc = energy_decay_curve(rir.astype(np.float64))
    assert -65.0 < edc[-FS // 100] < -55.0
    # Live hall: the 1 s cap applies instead
    rir, _ = simulate_rir(
        [15, 10, 5], 0.05, [3, 3, 1.5], [8, 6, 1.5], max_len=0.5
    )
    assert rir.size == FS // 2


def test_rt60_follows_absorption():
    rt60 = []
    for absorption in (0.05, 0.15, 0.4):
        rir, _ = simulate_rir([6, 5, 3], absorption, [1, 1, 1.5], [4, 3, 1.4])
        rt60.append(estimate_rt60(rir, FS))
    assert rt60[0] > rt60[1] > rt60[2] > 0


def test_estimate_rt60_known_decay():
    rng = np.random.default_rng(3)
    t = np.arange(2 * FS) / FS
    for true_rt60 in (0.3, 0.8):
        rir = rng.standard_normal(t.size) * 10 ** (-3 * t / true_rt60)
        assert estimate_rt60(rir, FS) == pytest.approx(true_rt60, rel=0.05)
    edc = energy_decay_curve(np.array([1.0, 1.0, 0.0]))
    assert edc[1] == pytest.approx(-3.0103, abs=1e-3)


@pytest.mark.parametrize(
    "colour, slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)]
)
def test_coloured_noise_slope(colour, slope):
    from scipy.signal import welch

    x = coloured_noise(4 * FS, colour, np.random.default_rng(0))
    freqs, psd = welch(x, fs=FS, nperseg=2048)
    band = (freqs >= 100) & (freqs <= 4000)
    fitted = np.polyfit(np.log10(freqs[band]), np.log10(psd[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.15)


def test_noise_csv_and_kinds(noise_dir):
    rows = load_data_csv(noise_dir / "noises.csv")
    assert len(rows) == 6
    info = _read_info(noise_dir / "noises_info.csv")
    kinds = [r["kind"] for r in info]
    assert kinds == ["babble"] * 3 + ["white", "pink", "brown"]
    for row in rows.values():
        audio, fs = sf.read(row["wav"])
        assert fs == FS and audio.ndim == 1
        assert audio.size == 2 * FS and row["duration"] == 2.0
        assert np.abs(audio).max() == pytest.approx(0.9, abs=1e-3)


def test_babble_made_of_given_utterances_only(noise_dir, babble_manifest):
    manifest_ids = {r["ID"] for r in _read_info(babble_manifest)}
    info = [r for r in _read_info(noise_dir / "noises_info.csv")]
    rows = load_data_csv(noise_dir / "noises.csv")
    for entry in info:
        audio, _ = sf.read(rows[entry["ID"]]["wav"])
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size))) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / FS)

        def share(freq, spectrum=spectrum, freqs=freqs):
            near = np.abs(freqs - freq) < 15
            return spectrum[near].sum() / spectrum.sum()

        if entry["kind"] != "babble":
            # Coloured noise is broadband: the tones hold a tiny share
            assert sum(share(f) for f in SPEAKER_TONES.values()) < 0.05
            continue
        spks = entry["spk_ids"].split()
        assert 3 <= int(entry["n_talkers"]) == len(spks) == len(set(spks))
        assert set(entry["source_ids"].split()) <= manifest_ids
        # Energy lies at the tones of the listed speakers, and only there
        for spk, freq in SPEAKER_TONES.items():
            if spk in spks:
                assert share(freq) > 0.05
            else:
                assert share(freq) < 1e-4
        assert sum(share(SPEAKER_TONES[s]) for s in spks) > 0.98
        assert share(FORBIDDEN_TONE) < 1e-4


def test_no_babble_without_sources(tmp_path):
    make_noises(tmp_path, n_noises=4, duration=0.5)
    kinds = [r["kind"] for r in _read_info(tmp_path / "noises_info.csv")]
    assert kinds == ["white", "pink", "brown", "white"]


def test_determinism(tmp_path, babble_manifest):
    def wav_bytes(folder):
        return [p.read_bytes() for p in sorted(folder.glob("*/*.wav"))]

    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        # Runs a second apart: catches time stamps written into the files
        time.sleep(1.05 if name == "b" else 0)
        make_rirs(tmp_path / name, n_rirs=3, seed=seed)
        make_noises(
            tmp_path / name,
            n_noises=2,
            babble_sources=babble_manifest,
            seed=seed,
            duration=1.0,
        )
    a, b, c = (wav_bytes(tmp_path / n) for n in "abc")
    assert len(a) == 5 and a == b
    assert all(x != y for x, y in zip(a, c, strict=True))


def test_add_reverb_runs_on_batch(rir_dir):
    torch.manual_seed(0)
    rirs = [
        sf.read(r["wav"])[0]
        for r in load_data_csv(rir_dir / "rirs.csv").values()
    ]
    # An impulse comes out as the RIR itself, aligned on its direct path
    click = 2000
    clean = torch.zeros(3, 2 * FS)
    clean[:, click] = 1.0
    reverb = AddReverb(csv_file=str(rir_dir / "rirs.csv"))
    out = reverb(clean)
    assert out.shape == clean.shape and torch.isfinite(out).all()
    assert (out - clean).abs().sum() > 1.0
    assert int(out[0].abs().argmax()) == click
    assert out[0, : click - PRE_DIRECT].abs().max() < 1e-4
    got = out[0, click - PRE_DIRECT :].numpy()
    best = 0.0
    for rir in rirs:
        seg = got[: rir.size]
        corr = np.dot(seg, rir) / np.linalg.norm(seg) / np.linalg.norm(rir)
        best = max(best, corr)
    assert best > 0.99
    # Speech-like input comes out changed but finite and not louder on average
    noisy = torch.randn(2, FS) * 0.1
    out = reverb(noisy)
    assert (out - noisy).abs().mean() > 0.01
    assert out.pow(2).mean().sqrt() < 2 * noisy.pow(2).mean().sqrt()


@pytest.mark.parametrize("snr", [0.0, 10.0])
def test_add_noise_at_expected_snr(noise_dir, snr):
    torch.manual_seed(0)
    t = torch.arange(FS) / FS
    clean = 0.3 * torch.sin(2 * torch.pi * 200 * t).repeat(4, 1)
    noisifier = AddNoise(
        csv_file=str(noise_dir / "noises.csv"), snr_low=snr, snr_high=snr
    )
    out = noisifier(clean, torch.ones(4))
    # AddNoise scales the clean part by 1 - 1 / (10 ** (snr / 20) + 1)
    factor = 1 / (10 ** (snr / 20) + 1)
    speech = (1 - factor) * clean
    noise = out - speech
    measured = 20 * torch.log10(speech.norm(dim=1) / noise.norm(dim=1))
    assert torch.allclose(measured, torch.full((4,), snr), atol=0.5)


def test_prepare_skips_when_done(tmp_path, babble_manifest):
    kwargs = dict(train_csv=babble_manifest, n_rirs=3, n_noises=4)
    paths = prepare_augment_material(tmp_path, noise_duration=1.0, **kwargs)
    assert set(paths) == {"rir_csv", "noise_csv"}
    assert len(load_data_csv(paths["rir_csv"])) == 3
    kinds = [r["kind"] for r in _read_info(tmp_path / "noises_info.csv")]
    assert kinds.count("babble") == 2
    stamp = {p: (tmp_path / p).stat().st_mtime_ns for p in ("rirs.csv",)}

    # Same options: nothing is rewritten
    again = prepare_augment_material(tmp_path, noise_duration=1.0, **kwargs)
    assert again == paths
    assert (tmp_path / "rirs.csv").stat().st_mtime_ns == stamp["rirs.csv"]

    # Other options: regenerated, and the extra files of before removed
    kwargs["n_rirs"] = 2
    prepare_augment_material(tmp_path, noise_duration=1.0, **kwargs)
    assert len(load_data_csv(paths["rir_csv"])) == 2
    assert len(list((tmp_path / "rirs").glob("*.wav"))) == 2

    # A missing file listed in a CSV: regenerated
    (tmp_path / "noises" / "white_0002.wav").unlink()
    prepare_augment_material(tmp_path, noise_duration=1.0, **kwargs)
    assert (tmp_path / "noises" / "white_0002.wav").is_file()
