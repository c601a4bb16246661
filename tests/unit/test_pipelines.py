"""speechbrain_emoinv.pipelines: the step-keyed replay of the noise and RIR
file readers, and the private SpeechBrain names it (and the recipe's
``_wrap_distributed``) relies on, as speechbrain==1.1.2 has them."""

import inspect

import numpy as np
import soundfile as sf
import speechbrain as sb
import torch
from speechbrain.augment.augmenter import Augmenter
from speechbrain.augment.time_domain import AddNoise, AddReverb

from speechbrain_emoinv.pipelines import restart_file_readers

SR = 16000


def _csv(folder, name, n_files, seconds):
    """A SpeechBrain augmentation CSV of ``n_files`` random waveforms."""
    rng = np.random.default_rng(len(name))
    lines = ["ID,duration,wav,wav_format,wav_opts"]
    for k in range(n_files):
        wav = folder / f"{name}{k}.wav"
        x = rng.standard_normal(int(seconds * SR)).astype(np.float32) * 0.1
        sf.write(wav, x, SR)
        lines.append(f"{name}{k},{seconds},{wav},wav,")
    path = folder / f"{name}.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _augmenter(tmp_path):
    noise = AddNoise(csv_file=_csv(tmp_path, "noise", 5, 0.3), num_workers=0)
    reverb = AddReverb(csv_file=_csv(tmp_path, "rir", 5, 0.05), num_workers=0)
    return Augmenter(
        parallel_augment=False,
        concat_original=False,
        shuffle_augmentations=False,
        augmentations=[noise, reverb],
    )


def test_file_readers_of_the_pinned_speechbrain(tmp_path):
    """restart_file_readers reaches into AddNoise / AddReverb (checked
    against speechbrain==1.1.2): this fails when those names change."""
    augmenter = _augmenter(tmp_path)
    assert set(augmenter.require_lengths) == set(augmenter.augmentations)
    restart_file_readers(augmenter, seed=3, batch_size=2)
    for aug in augmenter.augmentations.values():
        assert aug.csv_file is not None
        assert hasattr(aug.data_loader.sampler, "set_epoch")
    noise, reverb = augmenter.augmentations.values()
    assert isinstance(noise, AddNoise) and isinstance(reverb, AddReverb)
    # the iterators the augmentations read their next files from
    assert hasattr(noise.noise_data, "__next__")
    assert hasattr(reverb.rir_data, "__next__")
    assert "self.noise_data" in inspect.getsource(AddNoise)
    assert "self.rir_data" in inspect.getsource(AddReverb)


def test_restarted_readers_replay_the_same_files(tmp_path):
    augmenter = _augmenter(tmp_path)
    wavs, lens = torch.ones(2, 4000), torch.ones(2)

    def step(seed):
        restart_file_readers(augmenter, seed, batch_size=2)
        torch.manual_seed(seed)
        return augmenter(wavs, lens)[0]

    first = step(5)
    step(6)  # another step in between
    assert torch.equal(step(5), first)


def test_private_speechbrain_names_exist():
    """The recipe's EmoInvBrain overrides Brain._wrap_distributed (private
    in speechbrain==1.1.2): this fails when SpeechBrain renames it."""
    assert sb.__version__ == "1.1.2"
    method = sb.core.Brain._wrap_distributed
    assert list(inspect.signature(method).parameters) == ["self"]
    source = inspect.getsource(sb.core.Brain)
    assert "self._wrap_distributed()" in source


def test_rehearsal_crops_keep_clear_of_the_pair_draws(monkeypatch):
    """A real voice's row read as another row's rehearsal partner or twin
    is cropped anywhere in it, whichever partner it draws for itself (a
    crop keyed like the pair sampler's draws follows that choice)."""
    from speechbrain_emoinv import pipelines
    from speechbrain_emoinv.pair_sampling import PairSampler

    real = [
        {"wav": f"{i}.wav", "start": "0", "stop": "9000", "spk_id": "v"}
        for i in range(4)
    ]
    anchors = PairSampler(["a"], ["neutral"], seed=5)
    real_pairs = PairSampler(["v"] * 4, ["neutral"] * 4, seed=5)
    crops = pipelines.Crops([{"start": "0", "stop": "1"}], 1, 5, anchors)
    real_crops = pipelines.Crops(real, 1000, 5, anchors)
    reads = []
    monkeypatch.setattr(
        real_crops, "load", lambda i, offset: reads.append((i, offset))
    )

    class Encoder:
        def encode_sequence_torch(self, labels):
            return labels

    rehearse = pipelines.rehearsal_pipeline(
        crops, real_crops, {"u": 0}, Encoder(), real_pairs
    ).func
    offsets = {}
    for anchors.epoch in range(300):
        reads.clear()
        list(rehearse("u"))
        for twin, (row, offset) in zip((False, True), reads[1:], strict=True):
            own_pick = real_pairs.partner(row, twin=twin)
            offsets.setdefault((twin, own_pick), []).append(offset)
    for key, seen in offsets.items():
        assert len(seen) > 20 and max(seen) - min(seen) > 0.8 * 8000, key
