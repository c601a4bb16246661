"""Audio pipelines of the recipe and the step-keyed replay of its draws.

The training set reads, per CSV row: the anchor crop, its partner (same
speaker, another emotion, as the pair sampler's ``partner_emotion`` says)
and, when CopyPaste uses it, its twin (same speaker and emotion, no sample
in common), all at offsets drawn by (seed, epoch, row, salt) with
:func:`~speechbrain_emoinv.stable_random.stable_uniform`: workers, DDP
ranks and resumed runs read the same audio. The per-step draws
(CopyPaste, masking, augmentation) are seeded from (seed, epoch, step,
rank) by :func:`reseed`.

Authors
 * speechbrain-emoinv contributors 2026
"""

import collections
import logging
import os
import random

import speechbrain as sb
import torch
from speechbrain.dataio import audio_io

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.data.trials import trial_files
from speechbrain_emoinv.run_guard import RunError
from speechbrain_emoinv.stable_random import stable_uniform

logger = logging.getLogger(__name__)
VALID_SECONDS = 10  # longest validation clip scored per epoch


def load_segment(wav, offset, n_samples):
    """Mono waveform (T,) of ``n_samples`` samples from ``offset``."""
    sig, _ = audio_io.load(wav, num_frames=n_samples, frame_offset=offset)
    return sig.reshape(-1)


def pad_cat(batches):
    """Concatenates padded ``(wavs, rel_lens)`` batches of any lengths.

    Example
    -------
    >>> a = (torch.ones(1, 4), torch.tensor([1.0]))
    >>> b = (torch.ones(1, 2), torch.tensor([1.0]))
    >>> wavs, lens = pad_cat([a, b])
    >>> wavs.shape, lens.tolist()
    (torch.Size([2, 4]), [1.0, 0.5])
    """
    n_max = max(w.shape[1] for w, _ in batches)
    wavs = [
        torch.nn.functional.pad(w, (0, n_max - w.shape[1])) for w, _ in batches
    ]
    lens = [rel * w.shape[1] / n_max for w, rel in batches]
    return torch.cat(wavs), torch.cat(lens)


class Crops:
    """Crops of ``crop`` samples of the rows of a table (CSV rows: ``wav``,
    ``start``, ``stop``), at offsets drawn by (seed, epoch, row, salt); the
    epoch is the pair sampler's, read at every draw.

    Example
    -------
    >>> class Epoch:
    ...     epoch = 1
    >>> crops = Crops(
    ...     [{"wav": "a.wav", "start": "0", "stop": "100"}], 40, 0, Epoch
    ... )
    >>> crops.offset(0, 0) == crops.offset(0, 0), 0 <= crops.offset(0, 0) <= 60
    (True, True)
    """

    def __init__(self, rows, crop, seed, sampler):
        self.rows, self.crop, self.seed, self.sampler = (
            rows,
            crop,
            seed,
            sampler,
        )

    def offset(self, index, salt):
        """Start of the crop of row ``index`` for draw ``salt`` (0-3, 6, 7;
        the pair sampler draws under 4 and 5: a shared key would tie a
        crop to a partner choice)."""
        # The crop depends on (seed, epoch, row) only, so workers, DDP ranks
        # and resumed runs read the same audio.
        row = self.rows[index]
        start, stop = int(row["start"]), int(row["stop"])
        u = stable_uniform(self.seed, self.sampler.epoch, index, salt)
        return start + int(u * (max(stop - start - self.crop, 0) + 1))

    def load(self, index, offset):
        """Up to a crop of row ``index`` from ``offset``."""
        stop = int(self.rows[index]["stop"])
        return load_segment(
            self.rows[index]["wav"], offset, min(self.crop, stop - offset)
        )

    def read(self, index, salt):
        """The crop of row ``index`` for draw ``salt``."""
        return self.load(index, self.offset(index, salt))


def pair_pipelines(crops, row_of):
    """Dynamic items ``sig`` (anchor crop, salt 0), ``partner_sig``
    (salt 1) and ``twin_sig`` (salt 2) of the rows of ``crops``."""
    sampler, rows, crop = crops.sampler, crops.rows, crops.crop

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("sig")
    def anchor_pipeline(utt_id):
        return crops.read(row_of[utt_id], 0)

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("partner_sig")
    def partner_pipeline(utt_id):
        partner = sampler.partner(row_of[utt_id])
        return crops.read(partner, 1)

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("twin_sig")
    def twin_pipeline(utt_id):
        # Same speaker and emotion as the anchor, no sample in common:
        # another utterance, or else the anchor's outside the anchor crop.
        index = row_of[utt_id]
        twin = sampler.partner(index, twin=True)
        if twin != index:
            return crops.read(twin, 2)
        # the longer stretch left free by the anchor crop, up to a crop
        start, stop = int(rows[index]["start"]), int(rows[index]["stop"])
        taken = crops.offset(index, 0)
        left, right = taken - start, stop - taken - crop
        if max(left, right) < crop // 2:  # too short: counted below
            return crops.read(index, 2)
        room = max(left, right)
        span = min(room, crop)
        u = stable_uniform(crops.seed, sampler.epoch, index, 2)
        offset = int(u * (room - span + 1))
        offset += start if left >= right else taken + crop
        return load_segment(rows[index]["wav"], offset, span)

    return anchor_pipeline, partner_pipeline, twin_pipeline


def reads_twin(hparams):
    """True when CopyPaste builds the parallel sample on a twin: pairs on,
    ``independent_crop`` set and a CopyPaste mode that reads its first
    input (``"partner"`` reads the partner alone).

    Example
    -------
    >>> from speechbrain_emoinv.copypaste import CopyPaste
    >>> hparams = {"use_pairs": True, "independent_crop": True}
    >>> [
    ...     reads_twin({**hparams, "copypaste": CopyPaste(mode)})
    ...     for mode in ("concat", "partner")
    ... ]
    [True, False]
    """
    return bool(
        hparams["use_pairs"]
        and hparams["independent_crop"]
        and hparams["copypaste"].mode != "partner"
    )


def warn_lone_rows(crops):
    """Logs how many rows have no twin (their speaker's only utterance of
    their emotion): their parallel sample is cut outside the anchor crop."""
    rows, crop = crops.rows, crops.crop
    alone = [
        i for i in range(len(rows)) if crops.sampler.partner(i, twin=True) == i
    ]
    if alone:
        short = sum(
            int(rows[i]["stop"]) - int(rows[i]["start"]) < 2 * crop
            for i in alone
        )
        logger.warning(
            "independent_crop: %d of %d training rows are their "
            "speaker's only utterance of their emotion; their parallel "
            "sample is cut from the same utterance outside the anchor "
            "crop (it may be shorter), except for %d shorter than two "
            "crops, which may overlap it",
            len(alone),
            len(rows),
            short,
        )


def rehearsal_pipeline(crops, real_crops, row_of, label_encoder, real_pairs):
    """Dynamic item: each anchor brings one crop of a real training voice
    of stage 1 (``real_crops``), drawn by (seed, epoch, anchor row), so
    every batch keeps training on the voices stage 1 learnt; with its twin
    and partner, two other utterances of that voice, from the pair sampler
    ``real_pairs`` (None: not read)."""
    real = real_crops.rows

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides(
        "rehearsal_sig",
        "rehearsal_spk_id_encoded",
        "rehearsal_partner_sig",
        "rehearsal_twin_sig",
    )
    def rehearsal(utt_id):
        epoch = crops.sampler.epoch
        u = stable_uniform(crops.seed, epoch, row_of[utt_id], 3)
        index = int(u * len(real))
        yield real_crops.read(index, 3)
        yield label_encoder.encode_sequence_torch([real[index]["spk_id"]])
        real_pairs.epoch = crops.sampler.epoch
        # partner first: a twin that is not asked for is never read
        for twin in (False, True):
            other = real_pairs.partner(index, twin=twin)
            yield real_crops.read(other, 6 + twin)

    return rehearsal


Rehearsal = collections.namedtuple("Rehearsal", "dataset pipeline keys")


def rehearsal(hparams, crops, row_of, label_encoder):
    """The rehearsed real voices of stage 1 (``rehearsal_annotation``):
    their dataset, the dynamic item of :func:`rehearsal_pipeline` and its
    output keys (with the partner when ``rehearsal_pairs`` is set, and the
    twin when CopyPaste also reads one: :func:`reads_twin`); None without
    them."""
    if not hparams["rehearsal_annotation"]:
        return None
    real_set = sb.dataio.dataset.DynamicItemDataset.from_csv(
        hparams["rehearsal_annotation"]
    )
    real = [real_set.data[i] for i in real_set.data_ids]
    if not real:
        return None
    keys = ["rehearsal_sig", "rehearsal_spk_id_encoded"]
    real_pairs = None
    if hparams["rehearsal_pairs"]:
        real_pairs = hparams["pair_sampler"](
            [r["spk_id"] for r in real], [r["emotion"] for r in real]
        )
        keys.append("rehearsal_partner_sig")
        if reads_twin(hparams):
            keys.append("rehearsal_twin_sig")
    real_crops = Crops(real, crops.crop, crops.seed, crops.sampler)
    pipeline = rehearsal_pipeline(
        crops, real_crops, row_of, label_encoder, real_pairs
    )
    return Rehearsal(real_set, pipeline, keys)


def valid_pipeline(sample_rate):
    """Dynamic item ``sig``: a validation utterance, at most its first
    ``VALID_SECONDS``."""

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def valid(wav, start, stop):
        # At most the first VALID_SECONDS: one long clip would pad its
        # whole batch (SpeechBrain's VoxCeleb recipe validates on 3-s
        # segments); the final evaluation scores whole clips.
        n = min(int(stop) - int(start), VALID_SECONDS * sample_rate)
        return load_segment(wav, int(start), n)

    return valid


def label_pipeline(label_encoder):
    """Dynamic item ``spk_id_encoded``: the speaker's class index."""

    @sb.utils.data_pipeline.takes("spk_id")
    @sb.utils.data_pipeline.provides("spk_id_encoded")
    def label(spk_id):
        return label_encoder.encode_sequence_torch([spk_id])

    return label


def teacher_pipeline(teacher):
    """Dynamic item ``teacher_emb``: the teacher's embedding of the row
    (``teacher``: id -> numpy array)."""

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("teacher_emb")
    def teacher_emb(utt_id):
        return torch.from_numpy(teacher[utt_id])

    return teacher_emb


def check_speakers(hparams):
    """RunError unless the classifier has one output per training speaker:
    the training manifest's, with the rehearsed real voices of stage 1
    when there are any. Run right after the data preparation, before the
    augmentation material and any training."""
    spk = {r["spk_id"] for r in read_manifest(hparams["train_annotation"])}
    path = hparams["rehearsal_annotation"]
    real = read_manifest(path) if path and os.path.isfile(path) else []
    rehearsal = bool(real)
    n_spk = len(spk | {r["spk_id"] for r in real})
    if n_spk != hparams["out_n_neurons"]:
        where = hparams["train_annotation"]
        if rehearsal:
            where += f" + {hparams['rehearsal_annotation']}"
        raise RunError(
            f"{where} has {n_spk} training speakers but "
            f"out_n_neurons is {hparams['out_n_neurons']}: pass "
            f"--out_n_neurons={n_spk}"
        )


def check_trials(hparams):
    """RunError unless validation and evaluation have trial lists: a
    split of one speaker has none (no different-speaker pair). Run right
    after the data preparation, before any training."""
    missing = (
        []
        if os.path.isfile(hparams["valid_trials"])
        else [hparams["valid_trials"]]
    )
    for key in ("evaluate", "evaluate_real"):
        kw = getattr(hparams.get(key), "keywords", {})
        split = kw.get("split", "eval")
        if "data_dir" in kw and not trial_files(kw["data_dir"], split):
            missing.append(os.path.join(kw["data_dir"], "trials", split))
    if missing:
        raise RunError(
            f"{missing[0]}: no trials (the split has fewer than two "
            "speakers: give two or more with valid_speakers / "
            "eval_speakers, or a larger valid_fraction / eval_fraction)"
        )


def stream_seed(seed, step_key, stream):
    """Seed of one stream of a step's draws; ``step_key``: (epoch, step,
    rank).

    Example
    -------
    >>> stream_seed(1, (1, 0, 0), 0) == stream_seed(1, (1, 0, 0), 0)
    True
    >>> stream_seed(1, (1, 0, 0), 0) == stream_seed(1, (1, 0, 1), 0)
    False
    """
    return int(stable_uniform(seed, *step_key, stream) * 2**62)


def reseed(seed, step_key, stream):
    """Seeds torch and Python's ``random`` for one stream of the step's
    draws (0: CopyPaste; 1: augmentation. EM draws next in whichever
    stream ran last: after the augmentation's draws when it is on)."""
    seed = stream_seed(seed, step_key, stream)
    torch.manual_seed(seed)
    random.seed(seed)


def replay_step(hparams, step_key, n_samples):
    """Seeds stream 0 of the step's draws (:func:`reseed`) and restarts
    the augmentation's noise and RIR file readers from its seed (when
    ``use_augment``; ``n_samples``: the rows the augmentation sees), so
    that a resumed run replays the step's draws."""
    if hparams.use_augment:
        restart_file_readers(
            hparams.wav_augment,
            stream_seed(hparams.seed, step_key, 0),
            n_samples,
        )
    reseed(hparams.seed, step_key, 0)


def restart_file_readers(augmenter, seed, batch_size):
    """AddNoise / AddReverb read their files through their own DataLoader
    iterator, which a restarted process rewinds: restart it at every step,
    in an order keyed by the step's seed (the loader of a file set not yet
    used is built first, on a silent batch).

    Reaches into SpeechBrain's augmentations: ``csv_file``, ``data_loader``
    and the iterators ``noise_data`` (AddNoise) and ``rir_data``
    (AddReverb) are attributes of their 1.1.2 code, checked against
    speechbrain==1.1.2 (the pinned version) by
    ``tests/unit/test_pipelines.py::test_file_readers_of_the_pinned_speechbrain``.
    """
    for name, aug in augmenter.augmentations.items():
        if getattr(aug, "csv_file", None) is None:
            continue
        if not hasattr(aug, "data_loader"):
            silent = torch.zeros(batch_size, 1600)
            with_lens = augmenter.require_lengths[name]
            aug(silent, torch.ones(batch_size)) if with_lens else aug(silent)
        aug.data_loader.sampler.set_epoch(seed)
        reader = iter(aug.data_loader)
        if hasattr(aug, "noise_data"):
            aug.noise_data = reader
        else:
            aug.rir_data = reader
