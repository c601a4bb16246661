#!/usr/bin/env python3
"""Recipe: emotion-invariant speaker embeddings (arXiv 2505.18498).

An ECAPA-TDNN speaker encoder trained with AAM-softmax, plus the paper's
three components, each switched and tuned in the YAML:

    CSV row (anchor)  ->  PairSampler: partner = same speaker, another
                          emotion; twin = same speaker and emotion
    (twin, partner)   ->  CopyPaste: parallel sample x~ (same speaker;
                          the default mode takes the partner whole)
    [x, x~]           ->  generic augmentation -> Fbank -> mean norm
    x~ features       ->  masking of the frames loudest in the clean x~
    [x, x~]           ->  ECAPA-TDNN -> AAM-softmax + lambda (1 - cos(e, e~))

At the end the best checkpoint (validation-speaker EER), mixed with the
stage-1 weights by the `interpolate` weight chosen on the validation
voices, is exported as a SpeechBrain pretrained folder, with a decision
threshold calibrated on the validation speakers, and evaluated on the
evaluation speakers' emotional trial lists (and the real voices' lists).

To run:
    python train_speaker_embeddings.py hparams/emoinv.yaml
    python train_speaker_embeddings.py hparams/baseline.yaml --seed=7
    torchrun --nproc_per_node=2 train_speaker_embeddings.py \
        hparams/emoinv.yaml --distributed_backend=gloo

Authors
 * speechbrain-emoinv contributors 2026
"""

import math
import os
import sys

import speechbrain as sb
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from speechbrain_emoinv import pipelines
from speechbrain_emoinv.atomic_files import WriteError
from speechbrain_emoinv.checkpoints import average_last, save_epoch_checkpoint
from speechbrain_emoinv.distillation import distilling
from speechbrain_emoinv.finetune import LABELS_FILE
from speechbrain_emoinv.pipelines import pad_cat, replay_step, reseed
from speechbrain_emoinv.run_guard import RunError
from speechbrain_emoinv.stages import run
from speechbrain_emoinv.validation import score_trials, validation_stats


class EmoInvBrain(sb.core.Brain):
    """Speaker-embedding training with parallel (same-speaker) samples."""

    def compute_forward(self, batch, stage):
        """Anchors (+ CopyPaste parallels) (+ rehearsed real voices) ->
        augmentation -> features -> EM on the parallels, chosen on their
        clean waveforms -> ECAPA -> speaker classifier."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        if stage != sb.Stage.TRAIN:  # embeddings as the export computes them
            feats = self.features(wavs, lens)
            return self.modules.embedding_model(feats, lens).squeeze(1)

        # Under --precision=bf16 only the encoder is cast: the front end
        # (CopyPaste, augmentation, Fbank, EM) and the cosine classifier
        # (AAM margins) stay fp32.
        fp32 = torch.autocast(self.device_type, enabled=False)
        with fp32:
            feats, lens = self.front_end(batch)
        embeddings = self.modules.embedding_model(feats, lens).float()
        with fp32:
            outputs = self.modules.classifier(embeddings)
        return outputs, embeddings

    def front_end(self, batch):
        """Training waveforms -> features (anchors, parallels, rehearsed
        voices; the order compute_objectives reads)."""
        wavs, lens = batch.sig
        # Rehearsed real voices (stage 1's) join the anchors when they are
        # paired too, else they follow the parallels (AAM only).
        paired_real = self.hparams.rehearsal_pairs
        if paired_real:
            wavs, lens = pad_cat([(wavs, lens), batch.rehearsal_sig])
        n_anchor = wavs.shape[0]
        if self.hparams.use_pairs:
            partner = batch.partner_sig
            if paired_real:
                partner = pad_cat([partner, batch.rehearsal_partner_sig])
            # independent_crop: the parallel's own-emotion audio is another
            # utterance (a twin), not the anchor's crop
            base = (wavs, lens)
            if pipelines.reads_twin(vars(self.hparams)):
                base = batch.twin_sig
                if paired_real:
                    base = pad_cat([base, batch.rehearsal_twin_sig])
            parallels = self.hparams.copypaste(*base, *partner)
            wavs, lens = pad_cat([(wavs, lens), parallels])
        if self.hparams.rehearsal_annotation and not paired_real:
            wavs, lens = pad_cat([(wavs, lens), batch.rehearsal_sig])
        # EM reads the clean parallels padded as the features' waveforms:
        # frames map one to one (unless augmentation changes the speed)
        parallel = slice(n_anchor, 2 * n_anchor)
        clean = wavs[parallel], lens[parallel]

        if self.hparams.use_augment:
            # its own stream: rows with and without CopyPaste (which draws
            # before it) get the same augmentation, so they pair
            reseed(self.hparams.seed, self.step_key, 1)
            wavs, lens = self.hparams.wav_augment(wavs, lens)

        feats = self.features(wavs, lens)
        if self.hparams.use_pairs and self.hparams.use_em:
            masked = self.hparams.emotion_masking(
                feats[parallel], *clean, lens[parallel]
            )
            feats = torch.cat([feats[:n_anchor], masked, feats[2 * n_anchor :]])
        return feats, lens

    def compute_objectives(self, predictions, batch, stage):
        """ERL loss: AAM over all samples + weighted pair cosine loss
        (+ the distillation term when distilling, + the L2-SP penalty
        toward the starting weights)."""
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
        per_anchor = 2 if self.hparams.use_pairs else 1
        return (n_rows + paired_real) * per_anchor + real - paired_real

    def features(self, wavs, lens):
        """Fbank + sentence mean normalisation (the exported front end)."""
        feats = self.modules.compute_features(wavs)
        return self.modules.mean_var_norm(feats, lens)

    def on_fit_batch_start(self, batch, should_step):
        """Seeds torch and Python's ``random`` (SpeechBrain's Augmenter
        draws with it) from (seed, epoch, step, rank) and restarts the noise
        and RIR file readers from that seed: a resumed run replays the same
        CopyPaste, masking and augmentation draws without any saved RNG
        state, and DDP ranks draw independently."""
        rank = int(os.environ.get("RANK", 0))
        self.step_key = (self.hparams.epoch_counter.current, self.step, rank)
        replay_step(self.hparams, self.step_key, self.n_samples(len(batch.id)))

    step_key = (0, 0, 0)  # (epoch, step, rank), set by on_fit_batch_start
    keep_weights = False  # evaluate() recovers the best checkpoint unless set

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
        if stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats=self.train_stats,
                valid_stats=valid_stats,
            )
            save_epoch_checkpoint(
                self.checkpointer,
                {k: valid_stats[k] for k in ("EER", "threshold")},
                max(1, self.hparams.average_last_n),
            )
        self.last_valid = valid_stats

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Recovers the best checkpoint, or with ``average_last_n`` > 1
        the average of the last N end-of-epoch checkpoints' embedding model
        (the validation pass that follows scores it: the a = 1 end when
        the export mixes it with stage 1)."""
        if self.keep_weights:  # scoring weights set by hand (interpolation)
            return
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        n = self.hparams.average_last_n
        if n > 1:
            model = self.hparams.embedding_model
            self.averaged = average_last(self.checkpointer, model, n)

    def _wrap_distributed(self):
        """DDP on CPU: SpeechBrain 1.1.2 converts BatchNorm to SyncBatchNorm
        for every DDP run, which PyTorch supports on GPUs only. (A private
        Brain method, checked against speechbrain==1.1.2 by
        tests/unit/test_pipelines.py::test_private_speechbrain_names_exist.)"""
        if not (self.distributed_launch and self.device_type == "cpu"):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = DDP(
                    module, find_unused_parameters=self.find_unused_parameters
                )


def dataio_prep(hparams):
    """Datasets: anchor crops with their partners (train) and
    validation-speaker utterances (valid, at most ``VALID_SECONDS``): the
    pipelines of ``speechbrain_emoinv.pipelines``."""
    csv = sb.dataio.dataset.DynamicItemDataset.from_csv
    train = csv(hparams["train_annotation"])
    # Validation utterances sorted by length: batches pad little.
    valid = csv(hparams["valid_annotation"]).filtered_sorted(
        sort_key="duration"
    )
    rows = [train.data[i] for i in train.data_ids]
    row_of = {uid: i for i, uid in enumerate(train.data_ids)}
    sampler = hparams["pair_sampler"](
        [r["spk_id"] for r in rows], [r["emotion"] for r in rows]
    )
    hparams["pair_sampler_instance"] = sampler
    crop = int(hparams["sentence_len"] * hparams["sample_rate"])
    crops = pipelines.Crops(rows, crop, hparams["seed"], sampler)
    label_encoder = sb.dataio.encoder.CategoricalEncoder()
    hparams["label_encoder"] = label_encoder
    for pipeline in pipelines.pair_pipelines(crops, row_of):
        train.add_dynamic_item(pipeline)
    train.add_dynamic_item(pipelines.label_pipeline(label_encoder))
    valid.add_dynamic_item(pipelines.valid_pipeline(hparams["sample_rate"]))
    keys = ["id", "sig", "spk_id", "spk_id_encoded"]
    # Rehearsal: one crop of a real training voice of stage 1 per anchor.
    real = pipelines.rehearsal(hparams, crops, row_of, label_encoder)
    if real:
        train.add_dynamic_item(real.pipeline)
        keys += real.keys
    label_encoder.load_or_create(
        path=os.path.join(hparams["save_folder"], LABELS_FILE),
        from_didatasets=[train, real.dataset] if real else [train],
        output_key="spk_id",
    )
    if hparams["use_pairs"]:  # partners are read only when used
        keys.append("partner_sig")
    if pipelines.reads_twin(hparams):
        keys.append("twin_sig")
        pipelines.warn_lone_rows(crops)
    if distilling(hparams):
        teacher = hparams["teacher_embeddings"](hparams["train_annotation"])
        train.add_dynamic_item(pipelines.teacher_pipeline(teacher))
        keys.append("teacher_emb")
    train.set_output_keys(keys)
    valid.set_output_keys(["id", "sig"])
    # One triangular learning-rate cycle over the run, whatever the corpus:
    # up for half of its steps (per process under DDP), down for the rest.
    world = int(os.environ.get("WORLD_SIZE", 1))
    per_step = hparams["dataloader_options"]["batch_size"] * world
    steps = hparams["number_of_epochs"] * math.ceil(len(train) / per_step)
    hparams["lr_annealing"].step_size = steps / 2
    return train, valid


def main(argv):
    """Parses the command line and runs the recipe. A run that cannot be
    right (``RunError``) or a failed write is one line on stderr, exit
    status 1; Ctrl-C is one line, exit status 130."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    prog = os.path.basename(__file__)
    try:
        run(hparams_file, run_opts, overrides, EmoInvBrain, dataio_prep)
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
