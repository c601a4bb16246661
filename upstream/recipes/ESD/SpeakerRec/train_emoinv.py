#!/usr/bin/env python3
"""Recipe for emotion-invariant ECAPA-TDNN speaker embeddings on ESD.

Tian, Hu & Xu, arXiv 2505.18498: a speaker encoder (fine-tuned from a
VoxCeleb model) is trained with three additions:

    anchor x (speaker s, emotion e) + partner (speaker s, emotion e' != e)
        -> CopyPaste: parallel sample x~ (same speaker, other emotion)
    [x, x~] -> augmentation -> Fbank -> mean normalisation
    x~ features -> emotion-aware masking of the frames loudest in clean x~
    [x, x~] -> ECAPA-TDNN -> ERL: AAM-softmax + lambda * (1 - cos(e, e~))

Validation: speaker classification error on held-out sentences.

To run this recipe:
    python train_emoinv.py hparams/train_ecapa_emoinv.yaml \
        --data_folder=/path/to/ESD

Authors
 * speechbrain-emoinv contributors 2026
"""

import os
import random
import sys

import torch
from hyperpyyaml import load_hyperpyyaml

import speechbrain as sb
from speechbrain.dataio.dataio import read_audio
from speechbrain.dataio.pair_sampling import PairSampler
from speechbrain.utils.distributed import run_on_main


class EmoInvBrain(sb.core.Brain):
    """Speaker-embedding training on anchors and their parallel samples."""

    def compute_forward(self, batch, stage):
        """Anchors and CopyPaste parallels (training) -> classifier scores
        and embeddings."""
        batch = batch.to(self.device)
        wavs, lens = batch.sig
        clean = None
        if stage == sb.Stage.TRAIN:
            clean = self.hparams.copypaste(wavs, lens, *batch.partner_sig)
            wavs, lens = pad_cat((wavs, lens), clean)
            wavs, lens = self.hparams.wav_augment(wavs, lens)
        feats = self.modules.compute_features(wavs)
        feats = self.modules.mean_var_norm(feats, lens)
        if clean is not None:
            # masks chosen on the clean parallels, before augmentation
            n = len(batch.id)
            masked = self.hparams.emotion_masking(feats[n:], *clean, lens[n:])
            feats = torch.cat([feats[:n], masked])
        embeddings = self.modules.embedding_model(feats, lens)
        return self.modules.classifier(embeddings), embeddings

    def compute_objectives(self, predictions, batch, stage):
        """ERL loss (training: anchors, then parallels); AAM-softmax and the
        classification error (validation)."""
        outputs, embeddings = predictions
        spk_id, _ = batch.spk_id_encoded
        if stage != sb.Stage.TRAIN:
            self.error_metrics.append(batch.id, outputs, spk_id)
            loss, _ = self.hparams.compute_cost(outputs, spk_id, None, None)
            return loss
        n = len(batch.id)
        loss, parts = self.hparams.compute_cost(
            outputs,
            torch.cat([spk_id, spk_id]),
            embeddings[:n],
            embeddings[n:],
            step=self.optimizer_step,
        )
        self.pair_losses.append(float(parts["pair"]))
        return loss

    def on_stage_start(self, stage, epoch=None):
        """Draws the epoch's partners; resets the stage's statistics."""
        if stage == sb.Stage.TRAIN:
            self.hparams.pair_sampler.epoch = epoch or 0
            self.pair_losses = []
        else:
            self.error_metrics = self.hparams.error_stats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Logs the stage; anneals the learning rate and keeps the
        checkpoint with the lowest validation error."""
        stats = {"loss": stage_loss}
        if stage == sb.Stage.TRAIN:
            pair = sum(self.pair_losses) / max(len(self.pair_losses), 1)
            self.train_stats = {**stats, "pair_loss": pair}
            return
        stats["ErrorRate"] = self.error_metrics.summarize("average")
        if stage == sb.Stage.VALID:
            old_lr, new_lr = self.hparams.lr_annealing(epoch)
            sb.nnet.schedulers.update_learning_rate(self.optimizer, new_lr)
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": old_lr},
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"ErrorRate": stats["ErrorRate"]},
                min_keys=["ErrorRate"],
            )


def pad_cat(first, second):
    """Joins two padded batches ``(wavs, relative lengths)`` along the batch
    axis, padding the shorter one.

    Arguments
    ---------
    first, second : tuple of torch.Tensor
        ``(wavs (B, T), lens (B,))`` each.

    Returns
    -------
    tuple of torch.Tensor
        ``(wavs (B1 + B2, max(T1, T2)), lens (B1 + B2,))``.
    """
    width = max(first[0].shape[1], second[0].shape[1])
    wavs = [
        torch.nn.functional.pad(w, (0, width - w.shape[1]))
        for w, _ in (first, second)
    ]
    lens = [rel * w.shape[1] / width for w, rel in (first, second)]
    return torch.cat(wavs), torch.cat(lens)


def dataio_prep(hparams):
    """Training set (anchor crop, partner crop, speaker) and validation
    set (whole utterance, speaker).

    Arguments
    ---------
    hparams : dict
        The loaded hyperparameters.

    Returns
    -------
    tuple of DynamicItemDataset
        ``(train_data, valid_data)``.
    """
    train_data = sb.dataio.dataset.DynamicItemDataset.from_csv(
        hparams["train_annotation"]
    )
    valid_data = sb.dataio.dataset.DynamicItemDataset.from_csv(
        hparams["valid_annotation"]
    ).filtered_sorted(sort_key="duration")
    rows = [train_data.data[uid] for uid in train_data.data_ids]
    row_of = {uid: i for i, uid in enumerate(train_data.data_ids)}
    sampler = PairSampler(
        [row["spk_id"] for row in rows],
        [row["emotion"] for row in rows],
        partner_emotion=hparams["partner_emotion"],
        seed=hparams["seed"],
    )
    hparams["pair_sampler"] = sampler  # on_stage_start sets its epoch
    crop = int(hparams["sentence_len"] * hparams["sample_rate"])

    def read_crop(row):
        """A random ``sentence_len`` crop of a CSV row (whole if shorter)."""
        n = int(float(row["duration"]) * hparams["sample_rate"])
        start = random.randint(0, max(n - crop, 0))
        return read_audio(
            {"file": row["wav"], "start": start, "stop": start + crop}
        )

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("sig", "partner_sig")
    def pair_pipeline(uid):
        """The anchor's crop, then its partner's."""
        yield read_crop(rows[row_of[uid]])
        yield read_crop(rows[sampler.partner(row_of[uid])])

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def valid_pipeline(wav):
        """The whole utterance."""
        return read_audio(wav)

    label_encoder = sb.dataio.encoder.CategoricalEncoder()

    @sb.utils.data_pipeline.takes("spk_id")
    @sb.utils.data_pipeline.provides("spk_id_encoded")
    def label_pipeline(spk_id):
        """The speaker's class index."""
        return label_encoder.encode_sequence_torch([spk_id])

    train_data.add_dynamic_item(pair_pipeline)
    valid_data.add_dynamic_item(valid_pipeline)
    for data in (train_data, valid_data):
        data.add_dynamic_item(label_pipeline)
    label_encoder.load_or_create(
        path=os.path.join(hparams["save_folder"], "label_encoder.txt"),
        from_didatasets=[train_data],
        output_key="spk_id",
    )
    if len(label_encoder) != hparams["out_n_neurons"]:
        raise ValueError(
            f"out_n_neurons is {hparams['out_n_neurons']} but the training "
            f"set has {len(label_encoder)} speakers: pass "
            f"--out_n_neurons={len(label_encoder)}"
        )
    label_encoder.expect_len(hparams["out_n_neurons"])
    train_data.set_output_keys(["id", "sig", "partner_sig", "spk_id_encoded"])
    valid_data.set_output_keys(["id", "sig", "spk_id_encoded"])
    return train_data, valid_data


if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )

    from esd_prepare import prepare_esd  # noqa: E402

    run_on_main(
        prepare_esd,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["save_folder"],
            "valid_ratio": hparams["valid_ratio"],
            "test_speakers": hparams["test_speakers"],
            "skip_prep": hparams["skip_prep"],
        },
    )
    train_data, valid_data = dataio_prep(hparams)
    if hparams["pretrained_path"]:
        run_on_main(hparams["pretrainer"].collect_files)
        hparams["pretrainer"].load_collected()

    brain = EmoInvBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        brain.hparams.epoch_counter,
        train_data,
        valid_data,
        train_loader_kwargs=hparams["dataloader_options"],
        valid_loader_kwargs=hparams["dataloader_options"],
    )
