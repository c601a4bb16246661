#!/usr/bin/env python3
"""Recipe: emotion-invariant speaker embeddings (arXiv 2505.18498).

An ECAPA-TDNN speaker encoder trained with AAM-softmax, plus the paper's
three components, each switched and tuned in the YAML:

    CSV row (anchor)  ->  PairSampler: partner = same speaker, neutral <->
                          emotional; twin = same speaker and emotion
    (twin, partner)   ->  CopyPaste: parallel sample x~ (same speaker)
    [x, x~]           ->  generic augmentation -> Fbank -> mean norm
    x~ features       ->  masking of the frames loudest in the clean x~
    [x, x~]           ->  ECAPA-TDNN -> AAM-softmax + lambda (1 - cos(e, e~))

At the end the best checkpoint (validation-speaker EER) is exported as a
SpeechBrain pretrained folder, with a decision threshold calibrated on the
validation speakers, and evaluated on the evaluation speakers' emotional
trial lists.

To run:
    python train_speaker_embeddings.py hparams/emoinv.yaml
    python train_speaker_embeddings.py hparams/baseline.yaml --seed=7
    torchrun --nproc_per_node=2 train_speaker_embeddings.py \
        hparams/emoinv.yaml --distributed_backend=gloo

Authors
 * speechbrain-emoinv contributors 2026
"""

import functools
import hashlib
import logging
import math
import os
import random
import sys
import time

import numpy as np
import speechbrain as sb
import torch
from speechbrain.dataio import audio_io
from speechbrain.utils.checkpoints import average_checkpoints
from speechbrain.utils.distributed import if_main_process, run_on_main
from torch.nn.parallel import DistributedDataParallel as DDP

from speechbrain_emoinv.atomic_files import (
    WriteError,
    atomic_path,
    torch_save,
    write_errors_named,
)
from speechbrain_emoinv.config import (
    config_key,
    load_config,
    resolved_config,
    save_resolved_config,
    with_override,
)
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.data.mbrola.corpus import GENERATOR_VERSION
from speechbrain_emoinv.evaluation.lists import read_trial_list
from speechbrain_emoinv.evaluation.report import (
    fit_llr_calibration,
    metrics_table,
)
from speechbrain_emoinv.export import (
    export_pretrained,
    read_metadata,
    save_cohort,
    write_model_card,
)
from speechbrain_emoinv.finetune import (
    CLASSIFIER_FILE,
    LABELS_FILE,
    load_embedding_weights,
    load_known_classes,
)
from speechbrain_emoinv.interpolation import choose_mix
from speechbrain_emoinv.metrics import compute_eer, threshold_at
from speechbrain_emoinv.run_guard import (
    RunError,
    check_run_settings,
    check_same_config,
    check_training_manifest,
    clear_complete,
    incomplete,
    mark_complete,
    output_lock,
)
from speechbrain_emoinv.scoring import cosine_scores
from speechbrain_emoinv.stable_random import stable_uniform

logger = logging.getLogger(__name__)
VALID_SECONDS = 10  # longest validation clip scored per epoch


class EmoInvBrain(sb.core.Brain):
    """Speaker-embedding training with parallel (same-speaker) samples."""

    def compute_forward(self, batch, stage):
        """Anchors (+ CopyPaste parallels) (+ rehearsed real voices) ->
        augmentation -> features -> EM on the parallels, chosen on their
        clean waveforms -> ECAPA -> speaker classifier."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage != sb.Stage.TRAIN:
            return self.embed(wavs, lens)

        # Rehearsed real voices (stage 1's) join the anchors when they are
        # paired too, else they follow the parallels (AAM only).
        paired_real = self.hparams.rehearsal_pairs
        if paired_real:
            wavs, lens = pad_cat([(wavs, lens), batch.rehearsal_sig])
        n_anchor = wavs.shape[0]
        if self.hparams.use_pairs:
            # independent_crop: the parallel's own-emotion audio is another
            # utterance (a twin), not the anchor's crop
            twin, partner = batch.twin_sig, batch.partner_sig
            if paired_real:
                twin = pad_cat([twin, batch.rehearsal_twin_sig])
                partner = pad_cat([partner, batch.rehearsal_partner_sig])
            base = twin if self.hparams.independent_crop else (wavs, lens)
            clean, clean_lens = self.hparams.copypaste(*base, *partner)
            wavs, lens = pad_cat([(wavs, lens), (clean, clean_lens)])
        if self.hparams.rehearsal_annotation and not paired_real:
            wavs, lens = pad_cat([(wavs, lens), batch.rehearsal_sig])

        if self.hparams.use_augment:
            # its own stream: rows with and without CopyPaste (which draws
            # before it) get the same augmentation, so they pair
            self.reseed(1)
            wavs, lens = self.hparams.wav_augment(wavs, lens)

        feats = self.features(wavs, lens)
        if self.hparams.use_pairs and self.hparams.use_em:
            # the parallels' features may be padded to longer anchors
            parallel = slice(n_anchor, 2 * n_anchor)
            masked = self.hparams.emotion_masking(
                feats[parallel], clean, clean_lens, lens[parallel]
            )
            feats = torch.cat([feats[:n_anchor], masked, feats[2 * n_anchor :]])

        embeddings = self.modules.embedding_model(feats, lens)
        outputs = self.modules.classifier(embeddings)
        return outputs, embeddings

    def compute_objectives(self, predictions, batch, stage):
        """ERL loss: AAM over all samples + weighted pair cosine loss
        (+ the L2-SP penalty toward the starting weights)."""
        if stage != sb.Stage.TRAIN:
            # Validation is verification on unseen speakers: embeddings are
            # kept and scored at the end of the stage; no loss to report.
            self.valid_embeddings.update(
                zip(batch.id, predictions.cpu(), strict=True)
            )
            return torch.zeros((), device=self.device)

        outputs, embeddings = predictions
        # the order of compute_forward: anchors, parallels, real voices
        spk, _ = batch.spk_id_encoded
        real_spk = None
        if self.hparams.rehearsal_annotation:
            real_spk, _ = batch.rehearsal_spk_id_encoded
        if self.hparams.rehearsal_pairs:
            spk = torch.cat([spk, real_spk])
        n_anchor = spk.shape[0]
        emb_parallel = None
        if self.hparams.use_pairs:
            spk = torch.cat([spk, spk])
            emb_parallel = embeddings[n_anchor : 2 * n_anchor]
        if real_spk is not None and not self.hparams.rehearsal_pairs:
            spk = torch.cat([spk, real_spk])
        loss, parts = self.hparams.compute_cost(
            outputs,
            spk,
            embeddings[:n_anchor],
            emb_parallel,
            step=self.optimizer_step,
        )
        if distilling(self.hparams):
            parts["distill"] = self.modules.distillation(
                embeddings[:n_anchor], batch.teacher_emb.data
            )
            loss = loss + parts["distill"]
            parts["distill"] = parts["distill"].detach()
        if self.hparams.l2sp.alpha:
            penalty = self.hparams.l2sp(self.hparams.embedding_model)
            loss = loss + penalty
            parts["l2sp"] = penalty.detach()
        for key, value in parts.items():
            self.hparams.loss_parts.add(key, float(value))
        self.hparams.lr_annealing.on_batch_end(self.optimizer)
        return loss

    def n_samples(self, n_rows):
        """Samples that compute_forward makes of a batch of ``n_rows``."""
        real = n_rows if self.hparams.rehearsal_annotation else 0
        paired_real = real if self.hparams.rehearsal_pairs else 0
        n_anchor = n_rows + paired_real
        return n_anchor * (2 if self.hparams.use_pairs else 1) + (
            real - paired_real
        )

    def features(self, wavs, lens):
        """Fbank + sentence mean normalisation (the exported front end)."""
        feats = self.modules.compute_features(wavs)
        return self.modules.mean_var_norm(feats, lens)

    def embed(self, wavs, lens):
        """Speaker embeddings (B, D) as the exported model computes them."""
        feats = self.features(wavs, lens)
        return self.modules.embedding_model(feats, lens).squeeze(1)

    def on_fit_batch_start(self, batch, should_step):
        """Seeds torch and Python's ``random`` (SpeechBrain's Augmenter
        draws with it) from (seed, epoch, step, rank) and restarts the noise
        and RIR file readers from that seed: a resumed run replays the same
        CopyPaste, masking and augmentation draws without any saved RNG
        state, and DDP ranks draw independently."""
        rank = int(os.environ.get("RANK", 0))
        self.step_key = (self.hparams.epoch_counter.current, self.step, rank)
        if self.hparams.use_augment:
            restart_file_readers(
                self.hparams.wav_augment,
                self.stream_seed(0),
                self.n_samples(len(batch.id)),
            )
        self.reseed(0)

    step_key = (0, 0, 0)  # (epoch, step, rank), set by on_fit_batch_start
    keep_weights = False  # evaluate() recovers the best checkpoint unless set

    def stream_seed(self, stream):
        """Seed of one stream of the step's draws."""
        return int(
            stable_uniform(self.hparams.seed, *self.step_key, stream) * 2**62
        )

    def reseed(self, stream):
        """Seeds torch and Python's ``random`` for one stream of the
        step's draws (0: pairing and EM, 1: augmentation)."""
        seed = self.stream_seed(stream)
        torch.manual_seed(seed)
        random.seed(seed)

    def on_stage_start(self, stage, epoch=None):
        """Sets the epoch of the pair sampler; resets stage accumulators."""
        if stage == sb.Stage.TRAIN:
            self.hparams.pair_sampler_instance.epoch = epoch
            if self.step == 0:  # not when resuming inside the epoch
                self.hparams.loss_parts.clear()
        else:
            self.valid_embeddings = {}

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs the loss parts; validates by EER on unseen speakers."""
        if stage == sb.Stage.TRAIN:
            self.train_stats = {"loss": stage_loss}
            self.train_stats.update(self.hparams.loss_parts.means())
            return
        scores, labels, corpus = score_trials(
            self.valid_embeddings,
            self.hparams.valid_trials,
            self.hparams.valid_annotation,
        )
        self.valid_scores = scores, labels
        valid_stats = validation_stats(scores, labels, corpus)
        eer, threshold = valid_stats["EER"], valid_stats["threshold"]
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": self.optimizer_lr()},
                train_stats=self.train_stats,
                valid_stats=valid_stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"EER": eer, "threshold": threshold},
                min_keys=["EER"],
                num_to_keep=max(1, self.hparams.average_last_n),
            )
        self.last_valid = valid_stats

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Recovers the best checkpoint, or with ``average_last_n`` > 1
        the average of the last N end-of-epoch checkpoints' embedding model
        (the validation pass that follows scores the model exported)."""
        if self.keep_weights:  # scoring weights set by hand (interpolation)
            return
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        n = self.hparams.average_last_n
        if n <= 1:
            return
        ckpts = self.checkpointer.find_checkpoints(
            ckpt_predicate=lambda c: "EER" in c.meta, max_num_checkpoints=n
        )
        load = functools.partial(
            torch.load, map_location="cpu", weights_only=True
        )
        state = average_checkpoints(ckpts, "embedding_model", load)
        self.hparams.embedding_model.load_state_dict(state)
        self.averaged = [c.path.name for c in ckpts]
        logger.info("Averaged %d checkpoints: %s", len(ckpts), self.averaged)

    def _wrap_distributed(self):
        """DDP on CPU: SpeechBrain 1.1.2 converts BatchNorm to SyncBatchNorm
        for every DDP run, which PyTorch supports on GPUs only."""
        if not (self.distributed_launch and self.device_type == "cpu"):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = DDP(
                    module, find_unused_parameters=self.find_unused_parameters
                )

    def optimizer_lr(self):
        """Current learning rate of the first parameter group."""
        return self.optimizer.param_groups[0]["lr"]


def distilling(hparams):
    """Whether the run distils the teacher's embeddings (stage 1)."""
    head = (
        hparams["distillation"]
        if isinstance(hparams, dict)
        else (hparams.distillation)
    )
    return head is not None and head.weight > 0


def pad_cat(batches):
    """Concatenates padded ``(wavs, rel_lens)`` batches of any lengths."""
    n_max = max(w.shape[1] for w, _ in batches)
    wavs = [
        torch.nn.functional.pad(w, (0, n_max - w.shape[1])) for w, _ in batches
    ]
    lens = [rel * w.shape[1] / n_max for w, rel in batches]
    return torch.cat(wavs), torch.cat(lens)


def restart_file_readers(augmenter, seed, batch_size):
    """AddNoise / AddReverb read their files through their own DataLoader
    iterator, which a restarted process rewinds: restart it at every step,
    in an order keyed by the step's seed (the loader of a file set not yet
    used is built first, on a silent batch)."""
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


def validation_stats(scores, labels, corpus):
    """Validation statistics: ``EER`` (%) and ``threshold`` of the whole
    list, the checkpoint criterion (``benchmarks/tuning.md`` §4: its trials
    hold as many real as simulated ones); with both corpora also each
    one's EER and their mean, ``score``, which ``pick_mix`` weighs
    against the start.

    Example
    -------
    Each corpus separates its speakers, on scales the pooled list mixes:

    >>> scores = np.array([0.9, 0.8, 0.3, 0.2])
    >>> labels = np.array([True, False, True, False])
    >>> corpus = np.array(["real", "real", "simulated", "simulated"])
    >>> stats = validation_stats(scores, labels, corpus)
    >>> stats["EER"], stats["EER real"], stats["EER simulated"], stats["score"]
    (50.0, 0.0, 0.0, 0.0)
    """
    eer, threshold = compute_eer(scores, labels)
    stats = {"EER": 100 * eer, "threshold": threshold}
    kinds = sorted(set(corpus))
    if len(kinds) > 1:
        for c in kinds:
            stats[f"EER {c}"] = (
                100 * compute_eer(scores[corpus == c], labels[corpus == c])[0]
            )
        stats["score"] = sum(stats[f"EER {c}"] for c in kinds) / len(kinds)
    return stats


def score_trials(embeddings, trial_file, manifest):
    """Cosine scores, labels and corpus (``real`` / ``simulated``, after
    the enrolment row's ``simulated`` column; ``all`` without it) of a
    trial list."""
    ids = list(embeddings)
    trials = read_trial_list(trial_file, {u: i for i, u in enumerate(ids)})
    emb = torch.stack([embeddings[u] for u in ids])
    scores = cosine_scores(emb, trials.enrol, trials.test, ids=ids)
    names = {"0": "real", "1": "simulated"}
    kind = {
        r["ID"]: names.get(r.get("simulated"), "all")
        for r in read_manifest(manifest, strict=False)
    }
    corpus = np.array([kind[ids[i]] for i in trials.enrol])
    return scores, trials.labels, corpus


def load_segment(wav, offset, n_samples):
    """Mono waveform (T,) of ``n_samples`` samples from ``offset``."""
    sig, _ = audio_io.load(wav, num_frames=n_samples, frame_offset=offset)
    return sig.reshape(-1)


def dataio_prep(hparams):
    """Datasets: anchor crops with their partners (train) and
    validation-speaker utterances (valid, at most ``VALID_SECONDS``)."""
    sr = hparams["sample_rate"]
    crop = int(hparams["sentence_len"] * sr)
    train = sb.dataio.dataset.DynamicItemDataset.from_csv(
        hparams["train_annotation"]
    )
    # Validation utterances sorted by length: batches pad little.
    valid = sb.dataio.dataset.DynamicItemDataset.from_csv(
        hparams["valid_annotation"]
    ).filtered_sorted(sort_key="duration")
    rows = [train.data[i] for i in train.data_ids]
    row_of = {uid: i for i, uid in enumerate(train.data_ids)}
    sampler = hparams["pair_sampler"](
        [r["spk_id"] for r in rows], [r["emotion"] for r in rows]
    )
    hparams["pair_sampler_instance"] = sampler

    def crop_offset(index, salt, table=rows):
        # The crop depends on (seed, epoch, row) only, so workers, DDP ranks
        # and resumed runs read the same audio.
        start, stop = int(table[index]["start"]), int(table[index]["stop"])
        u = stable_uniform(hparams["seed"], sampler.epoch, index, salt)
        return start + int(u * (max(stop - start - crop, 0) + 1))

    def load_crop(index, offset, table=rows):
        stop = int(table[index]["stop"])
        return load_segment(
            table[index]["wav"], offset, min(crop, stop - offset)
        )

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("sig")
    def anchor_pipeline(utt_id):
        index = row_of[utt_id]
        return load_crop(index, crop_offset(index, 0))

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("partner_sig")
    def partner_pipeline(utt_id):
        partner = sampler.partner(row_of[utt_id])
        return load_crop(partner, crop_offset(partner, 1))

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("twin_sig")
    def twin_pipeline(utt_id):
        # Same speaker and emotion as the anchor, no sample in common:
        # another utterance, or else the anchor's outside the anchor crop.
        index = row_of[utt_id]
        twin = sampler.partner(index, twin=True)
        if twin != index:
            return load_crop(twin, crop_offset(twin, 2))
        # the longer stretch left free by the anchor crop, up to a crop
        start, stop = int(rows[index]["start"]), int(rows[index]["stop"])
        taken = crop_offset(index, 0)
        left, right = taken - start, stop - taken - crop
        if max(left, right) < crop // 2:  # too short: counted below
            return load_crop(index, crop_offset(index, 2))
        room = max(left, right)
        span = min(room, crop)
        u = stable_uniform(hparams["seed"], sampler.epoch, index, 2)
        offset = int(u * (room - span + 1))
        offset += start if left >= right else taken + crop
        return load_segment(rows[index]["wav"], offset, span)

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def valid_pipeline(wav, start, stop):
        # At most the first VALID_SECONDS: one long clip would pad its
        # whole batch (SpeechBrain's VoxCeleb recipe validates on 3-s
        # segments); the final evaluation scores whole clips.
        n = min(int(stop) - int(start), VALID_SECONDS * sr)
        return load_segment(wav, int(start), n)

    label_encoder = sb.dataio.encoder.CategoricalEncoder()

    @sb.utils.data_pipeline.takes("spk_id")
    @sb.utils.data_pipeline.provides("spk_id_encoded")
    def label_pipeline(spk_id):
        return label_encoder.encode_sequence_torch([spk_id])

    # Rehearsal: each anchor brings one crop of a real training voice of
    # stage 1, drawn by (seed, epoch, anchor row), so every batch keeps
    # training on the voices stage 1 learnt (with its twin and partner,
    # two other utterances of that voice, when rehearsal_pairs is set).
    real = []
    if hparams["rehearsal_annotation"]:
        real_set = sb.dataio.dataset.DynamicItemDataset.from_csv(
            hparams["rehearsal_annotation"]
        )
        real = [real_set.data[i] for i in real_set.data_ids]
    if real and hparams["rehearsal_pairs"]:
        real_sampler = hparams["pair_sampler"](
            [r["spk_id"] for r in real], [r["emotion"] for r in real]
        )

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides(
        "rehearsal_sig",
        "rehearsal_spk_id_encoded",
        "rehearsal_twin_sig",
        "rehearsal_partner_sig",
    )
    def rehearsal_pipeline(utt_id):
        u = stable_uniform(hparams["seed"], sampler.epoch, row_of[utt_id], 3)
        index = int(u * len(real))
        yield load_crop(index, crop_offset(index, 3, real), real)
        yield label_encoder.encode_sequence_torch([real[index]["spk_id"]])
        real_sampler.epoch = sampler.epoch
        for twin in (True, False):
            other = real_sampler.partner(index, twin=twin)
            yield load_crop(other, crop_offset(other, 4 + twin, real), real)

    train.add_dynamic_item(anchor_pipeline)
    train.add_dynamic_item(partner_pipeline)
    train.add_dynamic_item(twin_pipeline)
    train.add_dynamic_item(label_pipeline)
    valid.add_dynamic_item(valid_pipeline)
    hparams["label_encoder"] = label_encoder
    label_encoder.load_or_create(
        path=os.path.join(hparams["save_folder"], LABELS_FILE),
        from_didatasets=[train, real_set] if real else [train],
        output_key="spk_id",
    )
    keys = ["id", "sig", "spk_id", "spk_id_encoded"]
    if real:
        train.add_dynamic_item(rehearsal_pipeline)
        keys += ["rehearsal_sig", "rehearsal_spk_id_encoded"]
    if real and hparams["rehearsal_pairs"]:
        keys += ["rehearsal_twin_sig", "rehearsal_partner_sig"]
    if hparams["use_pairs"]:  # partners are read only when used
        keys.append("partner_sig")
    if hparams["use_pairs"] and hparams["independent_crop"]:
        keys.append("twin_sig")
        alone = [
            i for i in range(len(rows)) if sampler.partner(i, twin=True) == i
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
    if distilling(hparams):
        teacher = hparams["teacher_embeddings"](hparams["train_annotation"])

        @sb.utils.data_pipeline.takes("id")
        @sb.utils.data_pipeline.provides("teacher_emb")
        def teacher_pipeline(utt_id):
            return torch.from_numpy(teacher[utt_id])

        train.add_dynamic_item(teacher_pipeline)
        keys.append("teacher_emb")
    train.set_output_keys(keys)
    valid.set_output_keys(["id", "sig"])
    n_spk = len(label_encoder)
    if n_spk != hparams["out_n_neurons"]:
        where = hparams["train_annotation"]
        if real:
            where += f" + {hparams['rehearsal_annotation']}"
        raise RunError(
            f"{where} has {n_spk} training speakers but "
            f"out_n_neurons is {hparams['out_n_neurons']}: pass "
            f"--out_n_neurons={n_spk}"
        )
    # One triangular learning-rate cycle over the run, whatever the corpus:
    # up for half of its steps (per process under DDP), down for the rest.
    world = int(os.environ.get("WORLD_SIZE", 1))
    per_step = hparams["dataloader_options"]["batch_size"] * world
    steps = hparams["number_of_epochs"] * math.ceil(len(train) / per_step)
    hparams["lr_annealing"].step_size = steps / 2
    return train, valid


def interpolate_with_start(brain, valid, hparams):
    """WiSE-FT: the export mixes the recovered model with the weights it
    was fine-tuned from, ``a`` chosen on the validation voices by
    ``pick_mix`` (real voices first: the best mean of the corpora's EERs
    among the mixes no worse than stage 1 on the real ones); the
    validation scores of the chosen mix are kept for the threshold and
    calibration."""
    start = torch.load(
        os.path.join(
            hparams["save_folder"], "pretrained_init", "embedding_model.ckpt"
        ),
        map_location=brain.device,
        weights_only=True,
    )
    scored = {}

    def validate():
        brain.evaluate(
            valid, test_loader_kwargs=hparams["valid_dataloader_options"]
        )
        scored[len(scored)] = (brain.last_valid, brain.valid_scores)
        return brain.last_valid

    brain.keep_weights = True
    weights = sorted(hparams["interpolate"])
    best, stats = choose_mix(
        hparams["embedding_model"], start, weights, validate
    )
    brain.keep_weights = False
    brain.last_valid, brain.valid_scores = scored[weights.index(best)]
    eers = {a: round(s["EER"], 3) for a, s in stats.items()}
    brain.interpolation = {"weight": best, "valid_eer": eers}
    logger.info("Interpolation with the start: a = %s %s", best, eers)
    for key in ("EER real", "EER simulated", "score"):
        if key in stats[best]:
            values = {a: round(float(s[key]), 3) for a, s in stats.items()}
            name = "valid_" + key.lower().replace(" ", "_")
            brain.interpolation[name] = values
            logger.info("Validation %s: %s", key, values)


def export_and_evaluate(brain, hparams):
    """Exports the recovered best (or averaged) checkpoint with the
    threshold of ``operating_point`` and an LLR calibration, both chosen on
    the validation speakers; scores the evaluation speakers' trial lists
    (simulated emotional lists, and the real voices' lists when
    ``evaluate_real`` is set) and prints them in one table; stores the
    cohort and writes the model card with the evaluation table."""
    valid = brain.last_valid
    scores, labels = brain.valid_scores
    # The command line gives "far 0.01" for --operating_point=far=0.01.
    point = "=".join(str(hparams["operating_point"]).split())
    card = dict(hparams["model_card"])
    datasets = list(card.get("datasets", []))
    source = hparams["pretrained_path"]
    if source and os.path.isfile(os.path.join(source, "hyperparams.yaml")):
        inherited = read_metadata(source).get("datasets", [])
        datasets += [d for d in inherited if d not in datasets]
    card.update(
        datasets=datasets,
        config=os.path.basename(hparams["config_file"]),
        valid_eer=f"{valid['EER']:.2f} %",
    )
    extra = {
        "operating_point": point,
        "score_calibration": fit_llr_calibration(scores, labels),
        "datasets": datasets,
    }
    if getattr(brain, "averaged", None):
        extra["averaged_checkpoints"] = brain.averaged
    if getattr(brain, "interpolation", None):
        extra["interpolation"] = brain.interpolation
    export = hparams["export_folder"]
    export_pretrained(
        export,
        hparams["embedding_model"],
        hparams["embedding_kwargs"],
        n_mels=hparams["n_mels"],
        sample_rate=hparams["sample_rate"],
        threshold=threshold_at(scores, labels, point),
        model_card=card,
        extra=extra,
    )
    # The classifier and its classes, as in SpeechBrain's hub folders: a
    # fine-tuning run warm-starts the classes it shares (load_known_classes)
    torch_save(
        hparams["classifier"].state_dict(),
        os.path.join(export, CLASSIFIER_FILE),
    )
    labels = os.path.join(export, LABELS_FILE)
    with atomic_path(labels) as tmp, write_errors_named(labels):
        hparams["label_encoder"].save(tmp)
    logger.info("Exported %s", export)
    results = hparams["evaluate"](model_dir=export, device=brain.device)
    if hparams["export_cohort"]:
        export_cohort(export, hparams["eval_folder"], brain.device)
    write_model_card(export, card, results)
    if not hparams.get("evaluate_real"):
        return results
    real = hparams["evaluate_real"](model_dir=export, device=brain.device)
    lists = dict(results["lists"])
    lists.update(
        (name if name.startswith("real") else f"real_{name}", res)
        for name, res in real["lists"].items()
    )
    logger.info(
        "All lists (simulated and real voices):\n%s", metrics_table(lists)
    )
    return results


def export_cohort(model_dir, eval_folder, device):
    """Stores the evaluation's score-normalisation cohort in the export:
    the rows of the ``cohort.csv`` it wrote, with the embeddings its cache
    holds (the very ones its s-norm / AS-norm used)."""
    from speechbrain_emoinv.evaluation.embedding import embed_rows, load_model
    from speechbrain_emoinv.export import model_fingerprint
    from speechbrain_emoinv.scoring import EmbeddingCache

    path = os.path.join(eval_folder, "cohort.csv")
    if not os.path.isfile(path):
        logger.info("No cohort in %s: none stored in the export", path)
        return
    rows = read_manifest(path, strict=False)
    ids = [r["ID"] for r in rows]
    cache = EmbeddingCache(
        os.path.join(eval_folder, "embedding_cache"),
        model_fingerprint(model_dir),
    )
    cached_ids, emb = cache.get(
        path,
        lambda: (ids, embed_rows(load_model(model_dir, device=device), rows)),
    )
    if cached_ids != ids:
        raise RuntimeError(f"{path}: cached cohort ids do not match")
    save_cohort(model_dir, ids, emb)


def stage1_folder(config, cache_folder):
    """``<cache_folder>/<key>``: the stage-1 run of a config, keyed by what
    its resolved config says (``config_key``: not its comments) and the
    simulated corpus's generator version (every row and seed of stage 2
    shares it; a changed config, or a corpus the generator now renders
    otherwise, is another folder)."""
    content = f"{config_key(config)} generator {GENERATOR_VERSION}"
    key = hashlib.sha1(content.encode()).hexdigest()[:12]
    return os.path.join(cache_folder, key)


def pretrained_stage1(config, folder, run_opts):
    """Stage 1 of the two-stage flow, trained once and reused.

    The stage-1 run lives in ``folder`` (:func:`stage1_folder`). It is
    reused only when its completion record, written last, names the
    export that is there; otherwise (a new, interrupted or half-exported
    run) it is run again, resuming from its checkpoints. Concurrent stage-2
    runs wait for the one that holds its lock. Command-line overrides of
    stage 2 (seed, epochs, ...) never reach it; run options (device, ...)
    do.

    Returns
    -------
    str
        The exported stage-1 folder (``embedding_model.ckpt``).
    """
    export = os.path.join(folder, "pretrained")
    with output_lock(folder, wait=True):
        why = incomplete(folder, export)
        if why is None:
            logger.info("Stage 1: reusing %s (%s)", export, config)
        else:
            logger.info("Stage 1: training %s in %s: %s", config, folder, why)
            run(config, run_opts, {"output_folder": folder})
    return export


def run(hparams_file, run_opts, overrides):
    """Checks the settings and the output folder, prepares the data,
    trains (from stage 1 when the config names one), exports and
    evaluates; records the run as complete last."""
    hparams, config_text = load_config(hparams_file, overrides)
    hparams["config_file"] = hparams_file
    check_run_settings(hparams, hparams_file)
    hparams["checkpointer"].fallback = hparams.get("ckpt_fallback", False)
    folder = hparams["output_folder"]
    stage1 = None
    if hparams.get("pretrain_config") and not hparams["pretrained_path"]:
        stage1 = stage1_folder(
            hparams["pretrain_config"], hparams["pretrain_folder"]
        )
        # Recorded with the run: a run from another stage 1 is another run.
        overrides = with_override(
            overrides, "pretrained_path", os.path.join(stage1, "pretrained")
        )
    with output_lock(folder):
        check_same_config(folder, resolved_config(config_text, overrides))
        sb.core.create_experiment_directory(folder)
        if if_main_process():
            save_resolved_config(config_text, overrides, folder)
            clear_complete(folder)
        if stage1:
            hparams["pretrained_path"] = pretrained_stage1(
                hparams["pretrain_config"], stage1, run_opts
            )
            # Stage 1 pointed the log file at its own folder: back to ours.
            sb.core.create_experiment_directory(folder)
        train_export_evaluate(hparams, run_opts)
        if if_main_process():
            mark_complete(folder, hparams["export_folder"])
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def train_export_evaluate(hparams, run_opts):
    """Prepares and checks the data, trains, exports and evaluates."""
    started = time.time()  # this stage only
    run_on_main(hparams["prepare_data"])
    if hparams["use_augment"] and hparams["prepare_augment"]:
        run_on_main(hparams["prepare_augment"])
    for key in ("train_annotation", "valid_annotation", "rehearsal_annotation"):
        if hparams[key]:
            check_training_manifest(
                hparams[key],
                hparams["sample_rate"],
                os.path.join(hparams["save_folder"], "audio_checked.json"),
            )
    if distilling(hparams):  # the teacher embeds once (cached)
        run_on_main(
            hparams["teacher_embeddings"], args=[hparams["train_annotation"]]
        )
    train, valid = dataio_prep(hparams)
    if hparams["pretrained_path"]:
        logger.info("Fine-tuning from %s", hparams["pretrained_path"])
        load_embedding_weights(
            hparams["embedding_model"],
            hparams["pretrained_path"],
            collect_in=os.path.join(hparams["save_folder"], "pretrained_init"),
        )
        if hparams["warm_classifier"]:
            n = load_known_classes(
                hparams["classifier"],
                hparams["label_encoder"],
                hparams["pretrained_path"],
            )
            logger.info("Classifier: %d classes warm-started", n)
    # L2-SP's starting point: the loaded weights (before any checkpoint).
    hparams["l2sp"].anchor(hparams["embedding_model"])

    if distilling(hparams):
        hparams["checkpointer"].add_recoverable(
            "distillation", hparams["distillation"]
        )
    brain = EmoInvBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        train,
        valid,
        train_loader_kwargs=hparams["dataloader_options"],
        valid_loader_kwargs=hparams["valid_dataloader_options"],
    )
    # Every rank scores the (unsharded) validation set with the best
    # checkpoint, so no DDP collective is left waiting; rank 0 exports.
    brain.evaluate(
        valid,
        min_key="EER",
        test_loader_kwargs=hparams["valid_dataloader_options"],
    )
    if hparams["interpolate"] and hparams["pretrained_path"]:
        interpolate_with_start(brain, valid, hparams)
    if if_main_process():
        # The evaluation runs on rank 0 alone (the others wait below).
        world = os.environ.pop("WORLD_SIZE", None)
        try:
            export_and_evaluate(brain, hparams)
        finally:
            if world is not None:
                os.environ["WORLD_SIZE"] = world
        logger.info(
            "Finished %s in %.1f min (preparation, training, export, "
            "evaluation): %s",
            hparams["config_file"],
            (time.time() - started) / 60,
            hparams["output_folder"],
        )


def main(argv):
    """Parses the command line and runs the recipe. A run that cannot be
    right (``RunError``) or a failed write is one line on stderr, exit
    status 1; Ctrl-C is one line, exit status 130."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    prog = os.path.basename(__file__)
    try:
        run(hparams_file, run_opts, overrides)
    except (RunError, WriteError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
