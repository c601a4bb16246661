#!/usr/bin/env python3
"""Mutation check: plants known bugs, one at a time, in a scratch copy of
the repository and runs the tests that should catch each one.

Every planted bug must make its tests fail. The scratch copy holds the
working tree as it is (tracked files and untracked, not ignored ones);
``tests/tmp`` (the tiny generated corpus) is shared with the checkout by a
symbolic link. First the selected tests run on the unchanged copy: they
must pass, or a "caught" bug would mean nothing.

Usage::

    python tools/mutation_check.py              # every bug (~25 min, 2 cores)
    python tools/mutation_check.py --list
    python tools/mutation_check.py masking_on_anchors replace_span_at_0

Prints one line per bug (caught / MISSED, seconds) and a summary; exits 0
when every bug was caught, 1 when one was missed, 2 when a bug no longer
applies (its code changed: update MUTANTS) or the tests fail unchanged.
CI does not run it (too long for its budget): the output of the last full
run is committed in ``tools/mutation_check.txt``; run it again, and commit
its output there, after changing a test it names or a MUTANTS entry::

    python tools/mutation_check.py | tee tools/mutation_check.txt

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "train_speaker_embeddings.py"


@dataclass
class Mutant:
    """One planted bug: ``old`` (found exactly once) becomes ``new``."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple


MUTANTS = [
    Mutant(
        "ddp_sync_removed",
        RECIPE,
        "                self.modules[name] = DDP(\n"
        "                    module, find_unused_parameters=self.find_unused"
        "_parameters\n                )\n",
        "                pass  # each process trains alone\n",
        ("tests/integration/test_recipe.py::test_ddp_two_processes_match_one",),
    ),
    Mutant(
        "copypaste_skipped",
        RECIPE,
        "            parallels = self.hparams.copypaste(*base, *partner)\n",
        "            parallels = base\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "copypaste_partners_rolled",
        RECIPE,
        "            partner = batch.partner_sig\n",
        "            partner = [x.roll(1, 0) for x in batch.partner_sig]\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "masking_on_anchors",
        RECIPE,
        "                feats[parallel], *clean, lens[parallel]\n"
        "            )\n"
        "            feats = torch.cat([feats[:n_anchor], masked, feats[2 * n_anchor :]])\n",
        "                feats[:n_anchor], *clean, lens[parallel]\n"
        "            )\n"
        "            feats = torch.cat([masked, feats[n_anchor:]])\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "em_on_augmented_waveform",
        RECIPE,
        "                feats[parallel], *clean, lens[parallel]\n",
        "                feats[parallel], wavs[parallel], lens[parallel], "
        "lens[parallel]\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "augment_anchors_only",
        RECIPE,
        "            wavs, lens = self.hparams.wav_augment(wavs, lens)\n",
        "            aug, aug_lens = self.hparams.wav_augment("
        "wavs[:n_anchor], lens[:n_anchor])\n"
        "            wavs = torch.cat([aug, wavs[n_anchor:, : aug.shape[1]]])\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "em_on_the_unpadded_parallels",
        RECIPE,
        "        clean = wavs[parallel], lens[parallel]\n",
        "        clean = parallels\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "rehearsal_crops_on_the_pair_salts",
        "speechbrain_emoinv/pipelines.py",
        "yield real_crops.read(other, 6 + twin)",
        "yield real_crops.read(other, 4 + twin)",
        ("tests/unit/test_pipelines.py",),
    ),
    Mutant(
        "shared_crop_ignored",
        RECIPE,
        "            if pipelines.reads_twin(vars(self.hparams)):\n",
        "            if self.hparams.use_pairs:\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "pair_targets_misaligned",
        RECIPE,
        "            spk = torch.cat([spk, spk])\n",
        "            spk = torch.cat([spk, spk.roll(1, 0)])\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "encoder_detached",
        RECIPE,
        "        embeddings = self.modules.embedding_model(feats, lens).float()\n",
        "        embeddings = self.modules.embedding_model(feats, lens)"
        ".detach().float()\n",
        ("tests/integration/test_recipe_wiring.py",),
    ),
    Mutant(
        "baseline_with_pairs",
        "hparams/baseline.yaml",
        "use_pairs: False",
        "use_pairs: True",
        ("tests/consistency/test_wiring.py",),
    ),
    Mutant(
        "copypaste_row_without_pair_loss_off",
        "hparams/ablation_copypaste.yaml",
        "pair_weight: 0.0",
        "pair_weight: 1.0",
        ("tests/consistency/test_wiring.py",),
    ),
    Mutant(
        "replace_span_at_0",
        "speechbrain_emoinv/copypaste.py",
        "            p_out = _randint_upto(len_a - share, u[1])\n",
        "            p_out = torch.zeros_like(len_a)\n",
        ("tests/unit/test_copypaste.py",),
    ),
    Mutant(
        "share_at_top_of_span_ratio",
        "speechbrain_emoinv/copypaste.py",
        "share = torch.round(uniform_in(self.span_ratio, batch, dev) * len_a)",
        "share = torch.round(self.span_ratio[1] * len_a.double())",
        ("tests/unit/test_copypaste.py",),
    ),
    Mutant(
        "em_ratio_at_low_end",
        "speechbrain_emoinv/emotion_masking.py",
        "        ratio = uniform_in(self.mask_ratio, batch, wavs.device)\n",
        "        ratio = torch.full((batch,), self.mask_ratio[0]).double()\n",
        (
            "tests/unit/test_emotion_masking.py",
            "tests/unit/test_random_draws.py",
        ),
    ),
    Mutant(
        "em_prob_ignored",
        "speechbrain_emoinv/emotion_masking.py",
        "        target = target * (torch.rand(batch, device=wavs.device) < "
        "self.prob)\n",
        "",
        ("tests/unit/test_emotion_masking.py",),
    ),
    Mutant(
        "em_masks_quietest_frames",
        "speechbrain_emoinv/emotion_masking.py",
        "key.argsort(dim=1, descending=True, stable=True)",
        "key.argsort(dim=1, descending=False, stable=True)",
        ("tests/unit/test_emotion_masking.py",),
    ),
    Mutant(
        "partner_emotion_neutral_ignored",
        "speechbrain_emoinv/pair_sampling.py",
        "e for e in others if (e == NEUTRAL) != (emo == NEUTRAL)",
        "e for e in others",
        ("tests/unit/test_pair_sampling.py",),
    ),
    Mutant(
        "partners_same_every_epoch",
        "speechbrain_emoinv/pair_sampling.py",
        "u = stable_uniform(self.seed, epoch, index, salt)",
        "u = stable_uniform(self.seed, 0, index, salt)",
        ("tests/unit/test_pair_sampling.py",),
    ),
    Mutant(
        "twin_may_be_the_anchor",
        "speechbrain_emoinv/pair_sampling.py",
        "            k += 1  # skip the anchor itself\n",
        "            pass\n",
        ("tests/unit/test_pair_sampling.py",),
    ),
    Mutant(
        "pair_loss_unweighted",
        "speechbrain_emoinv/erl_loss.py",
        "        return aam + weight * pair, parts\n",
        "        return aam + pair, parts\n",
        ("tests/unit/test_erl_loss.py",),
    ),
    Mutant(
        "partner_of_next_row",
        "speechbrain_emoinv/pipelines.py",
        "        partner = sampler.partner(row_of[utt_id])\n",
        "        partner = (row_of[utt_id] + 1) % len(rows)\n",
        ("tests/integration/test_pair_pipeline.py",),
    ),
    Mutant(
        "downmix_first_channel",
        "speechbrain_emoinv/data/audio_checks.py",
        "        x = x.mean(axis=1, keepdims=True)\n",
        "        x = x[:, :1]\n",
        ("tests/unit/test_data_bad_input.py",),
    ),
    Mutant(
        "min_dcf_ignores_costs",
        "speechbrain_emoinv/metrics.py",
        "    return min_dcf_from_points(*pts, p_target, c_miss, c_fa)\n",
        "    return min_dcf_from_points(*pts, p_target)\n",
        ("tests/unit/test_metrics.py",),
    ),
    Mutant(
        "eer_weights_ignored",
        "speechbrain_emoinv/metrics.py",
        "    return _sorted_points(scores, labels, weights[keep])\n",
        "    return _sorted_points(scores, labels)\n",
        ("tests/unit/test_metrics.py",),
    ),
    Mutant(
        "test_index_shifted",
        "speechbrain_emoinv/scoring.py",
        "            b = emb.index_select(0, test_idx[sl])\n",
        "            b = emb.index_select(0, test_idx[sl].roll(1))\n",
        ("tests/integration/test_recipes_corpora.py::test_recipe_row",),
    ),
    Mutant(
        "trial_targets_any_speaker",
        "speechbrain_emoinv/data/trials.py",
        "        ok = (e != t) & (same_spk if target else ~same_spk)\n",
        "        ok = e != t\n",
        (
            "tests/integration/test_data_prepare.py",
            "tests/integration/test_data_mbrola.py",
        ),
    ),
    Mutant(
        "asnorm_ignores_topk",
        "speechbrain_emoinv/scoring.py",
        "            if k < cohort.shape[0]:\n",
        "            if False:\n",
        ("tests/unit/test_scoring.py",),
    ),
    Mutant(
        "snorm_enrol_side_twice",
        "speechbrain_emoinv/scoring.py",
        "        + (scores - mean[test_idx]) / std[test_idx]\n",
        "        + (scores - mean[enrol_idx]) / std[enrol_idx]\n",
        ("tests/unit/test_scoring.py",),
    ),
    Mutant(
        "valid_scores_negated",
        "speechbrain_emoinv/validation.py",
        "    return scores, trials.labels, corpus\n",
        "    return -scores, trials.labels, corpus\n",
        (
            "tests/integration/test_recipe.py::test_export_loads_without_network",
        ),
    ),
    Mutant(
        "exported_threshold_dropped",
        "speechbrain_emoinv/export/folder.py",
        'thr = "null" if threshold is None else yaml_flow(float(threshold))',
        'thr = "null"',
        ("tests/integration/test_export.py",),
    ),
    Mutant(
        "finetune_weights_not_loaded",
        "speechbrain_emoinv/stages.py",
        '            hparams["embedding_model"],\n            hparams["pretrained_path"],\n',
        '            __import__("copy").deepcopy(hparams["embedding_model"]),\n'
        '            hparams["pretrained_path"],\n',
        (
            "tests/integration/test_recipe.py::test_finetune_from_exported_folder",
        ),
    ),
    Mutant(
        "resume_replays_the_epoch",
        "speechbrain_emoinv/checkpoints.py",
        "            os.replace(meta.with_name(METAFNAME + PARTIAL_SUFFIX), "
        "meta)\n        return ckpt\n",
        "            os.replace(meta.with_name(METAFNAME + PARTIAL_SUFFIX), "
        "meta)\n        return ckpt\n\n"
        "    def find_checkpoints(self, *args, **kwargs):\n"
        "        found = super().find_checkpoints(*args, **kwargs)\n"
        '        return [c for c in found if c.meta.get("end-of-epoch", '
        "True)]\n",
        (
            "tests/integration/test_recipe.py::test_resume_after_sigkill_matches_uninterrupted",
        ),
    ),
    Mutant(
        "training_never_steps",
        RECIPE,
        "        self.hparams.lr_annealing.on_batch_end(self.optimizer)\n",
        "        self.hparams.lr_annealing.on_batch_end(self.optimizer)\n"
        "        for group in self.optimizer.param_groups:\n"
        '            group["lr"] = 0.0\n',
        (
            "tests/integration/test_recipe.py::test_run_prints_table_and_exports",
        ),
    ),
    # The examples of issue 25 (bugs that passed every test before the
    # contract tests, tests/test_contract_*.py).
    Mutant(
        "checkpointer_keeps_the_worst",
        "speechbrain_emoinv/checkpoints.py",
        '        min_keys=["EER"],\n',
        '        max_keys=["EER"],\n',
        ("tests/integration/test_contract_selection.py",),
    ),
    Mutant(
        "corpora_weighed_by_the_pooled_list",
        "speechbrain_emoinv/validation.py",
        '        stats["score"] = sum(stats[f"EER {c}"] for c in kinds) / '
        "len(kinds)\n",
        '        stats["score"] = stats["EER"]\n',
        ("tests/integration/test_contract_selection.py",),
    ),
    Mutant(
        "stage1_key_hashes_the_file_bytes",
        "speechbrain_emoinv/stages.py",
        '    content = f"{config_key(config)} generator {GENERATOR_VERSION}"\n',
        '    content = open(config).read() + f" generator {GENERATOR_VERSION}"\n',
        ("tests/integration/test_contract_caching.py",),
    ),
    Mutant(
        "pad_cat_keeps_old_relative_lengths",
        "speechbrain_emoinv/pipelines.py",
        "    lens = [rel * w.shape[1] / n_max for w, rel in batches]\n",
        "    lens = [rel for _, rel in batches]\n",
        ("tests/integration/test_contract_invariance.py",),
    ),
    Mutant(
        "batch_embedding_without_lengths",
        "speechbrain_emoinv/evaluation/embedding.py",
        "        emb = model.encode_batch(padded, lens / lens.max())\n",
        "        emb = model.encode_batch(padded)\n",
        ("tests/integration/test_contract_invariance.py",),
    ),
    # One more bug per contract kind (and the EM padding fix reverted).
    Mutant(
        "export_of_the_last_epoch",
        "speechbrain_emoinv/stages.py",
        '        brain.evaluate(\n            valid,\n            min_key="EER",\n',
        "        brain.evaluate(\n            valid,\n",
        ("tests/integration/test_contract_selection.py",),
    ),
    Mutant(
        "averaging_takes_intra_epoch_checkpoints",
        "speechbrain_emoinv/checkpoints.py",
        '        ckpt_predicate=lambda c: "EER" in c.meta, '
        "max_num_checkpoints=n\n",
        "        max_num_checkpoints=n\n",
        (
            "tests/integration/test_contract_selection.py::"
            "test_averaging_takes_the_last_n_end_of_epoch_checkpoints",
        ),
    ),
    Mutant(
        "mindcf_prior_ignored",
        "speechbrain_emoinv/metrics.py",
        "        return name, 0.01 if number is None else number\n",
        "        return name, 0.01\n",
        ("tests/integration/test_contract_operating_points.py",),
    ),
    Mutant(
        "fingerprint_ignores_hyperparameters",
        "speechbrain_emoinv/pretrained.py",
        "    return files_digest([model_dir / CKPT_FILE, model_dir / "
        "HPARAMS_FILE])\n",
        "    return files_digest([model_dir / CKPT_FILE])\n",
        ("tests/integration/test_contract_caching.py",),
    ),
    Mutant(
        "step_draws_same_on_every_rank",
        RECIPE,
        "self.step_key = (self.hparams.epoch_counter.current, self.step, rank)\n",
        "self.step_key = (self.hparams.epoch_counter.current, self.step, 0)\n",
        ("tests/integration/test_contract_randomness.py",),
    ),
    Mutant(
        "batch_rows_reordered",
        "speechbrain_emoinv/evaluation/embedding.py",
        "            wavs = [load_row(rows[i], model) for i in batch]\n",
        "            wavs = [load_row(rows[i], model) for i in sorted(batch)]\n",
        ("tests/integration/test_contract_invariance.py",),
    ),
    Mutant(
        "em_mask_over_the_padded_width",
        "speechbrain_emoinv/emotion_masking.py",
        "        if feat_lengths is None:\n            feat_lengths = lengths\n",
        "        feat_lengths = lengths\n",
        ("tests/integration/test_contract_invariance.py",),
    ),
    Mutant(
        "hard_nontargets_any_gender",
        "speechbrain_emoinv/data/trials.py",
        "            enrol, test, spk, text, gender, n_hard, False, rng, taken\n",
        "            enrol, test, spk, text, const, n_hard, False, rng, taken\n",
        ("tests/integration/test_contract_composition.py",),
    ),
    Mutant(
        "calibration_offset_dropped",
        "speechbrain_emoinv/evaluation/report.py",
        '        llr = calibration["scale"] * scores + calibration["offset"]\n',
        '        llr = calibration["scale"] * scores\n',
        ("tests/unit/test_contract_known_answers.py",),
    ),
    Mutant(
        "mbrola_rows_marked_real",
        "speechbrain_emoinv/data/prepare_mbrola.py",
        "                    simulated=1,\n",
        '                    simulated=int(row["simulated"]),\n',
        ("tests/integration/test_data_mbrola.py",),
    ),
    Mutant(
        "stage1_key_ignores_the_generator",
        "speechbrain_emoinv/stages.py",
        '    content = f"{config_key(config)} generator {GENERATOR_VERSION}"\n',
        "    content = config_key(config)\n",
        ("tests/integration/test_contract_caching.py",),
    ),
    Mutant(
        "stage1_random_state_leaks",
        "speechbrain_emoinv/stages.py",
        "            with random_state_kept():\n",
        "            with contextlib.nullcontext():\n",
        (
            "tests/integration/test_real_speech.py"
            "::test_stage1_cached_reused_and_invalidated",
        ),
    ),
    Mutant(
        "intra_epoch_checkpoints_take_the_last_places",
        "speechbrain_emoinv/checkpoints.py",
        "        num_to_keep=n,\n"
        "        ckpt_predicate=lambda c: INTRA_EPOCH_CKPT_FLAG not in c.meta,\n",
        "        num_to_keep=n,\n",
        ("tests/integration/test_contract_selection.py",),
    ),
    Mutant(
        "partner_draw_shares_the_crop_key",
        "speechbrain_emoinv/pair_sampling.py",
        "        salt = TWIN_SALT if twin else PARTNER_SALT\n",
        "        salt = int(twin)\n",
        ("tests/unit/test_pair_sampling.py",),
    ),
    Mutant(
        "eer_ties_broken_by_rounding",
        "speechbrain_emoinv/metrics.py",
        "    idx = int(np.flatnonzero(gap <= gap.min() + 1e-12)[0])\n",
        "    idx = int(np.argmin(gap))\n",
        ("tests/unit/test_metrics.py",),
    ),
    Mutant(
        "stage1_decided_by_each_rank",
        "speechbrain_emoinv/stages.py",
        "        why = ddp_broadcast(\n"
        "            incomplete(folder, export) if if_main_process() else None\n"
        "        )\n",
        "        why = incomplete(folder, export)\n",
        (
            "tests/integration/test_faults.py"
            "::test_ranks_follow_the_main_process_on_a_shared_stage1",
        ),
    ),
    Mutant(
        "stage1_key_counts_comments",
        "speechbrain_emoinv/config.py",
        "    text = json.dumps(content(merged_tree(hparams_file)), default=str)\n",
        "    text = resolve_config(hparams_file)\n",
        ("tests/integration/test_contract_caching.py",),
    ),
    Mutant(
        "checkpoint_names_unchecked",
        "speechbrain_emoinv/pretrained.py",
        "    _check_names(ckpt, model.mods.embedding_model, model_dir)\n",
        "",
        (
            "tests/integration/test_faults.py::"
            "test_model_weights_of_other_names_are_refused",
        ),
    ),
    Mutant(
        "embedding_cache_mixes_batch_sizes",
        "speechbrain_emoinv/evaluation/embedding.py",
        '        return f"{fingerprint}-b{batch_size}"\n',
        '        return f"{fingerprint}"\n',
        ("tests/integration/test_cli_embed.py::test_embed_cli_and_resume",),
    ),
    Mutant(
        "cohort_embedded_again",
        "speechbrain_emoinv/stages.py",
        '    key = embedding_key(model_fingerprint(model_dir), "pytorch", '
        "batch_size)\n",
        "    key = model_fingerprint(model_dir)\n",
        (
            "tests/integration/test_export.py::"
            "test_stored_cohort_is_the_evaluations_cached_one",
        ),
    ),
    Mutant(
        "cohort_cache_read_at_the_default_batch_size",
        "speechbrain_emoinv/stages.py",
        '    key = embedding_key(model_fingerprint(model_dir), "pytorch", '
        "batch_size)\n",
        '    key = embedding_key(model_fingerprint(model_dir), "pytorch", '
        "BATCH_SIZE)\n",
        (
            "tests/integration/test_export.py::"
            "test_stored_cohort_is_the_evaluations_cached_one",
        ),
    ),
    Mutant(
        "one_speaker_split_found_after_the_first_epoch",
        "speechbrain_emoinv/stages.py",
        "    check_trials(hparams)\n",
        "",
        (
            "tests/integration/test_faults.py::"
            "test_split_without_trials_is_one_line_before_training",
        ),
    ),
    Mutant(
        "folder_of_an_untrained_run_refused",
        "speechbrain_emoinv/run_guard.py",
        "    if not record.is_file() or not checkpointer.list_checkpoints():\n",
        "    if not record.is_file():\n",
        (
            "tests/integration/test_faults.py::"
            "test_speaker_count_mismatch_is_one_line",
        ),
    ),
    Mutant(
        "debug_run_scores_trials_it_did_not_embed",
        "speechbrain_emoinv/validation.py",
        '    if not run_opts.get("debug"):\n',
        "    if True:\n",
        (
            "tests/integration/test_recipes_corpora.py::"
            "test_debug_run_validates_what_it_embeds",
        ),
    ),
    Mutant(
        "preparation_error_is_a_traceback",
        "speechbrain_emoinv/stages.py",
        "    except (OSError, ValueError) as err:  # the user's corpus: one line\n",
        "    except KeyboardInterrupt as err:\n",
        (
            "tests/integration/test_faults.py::"
            "test_missing_corpus_or_pretrained_path_is_one_line",
        ),
    ),
    Mutant(
        "threshold_above_one_exported",
        "speechbrain_emoinv/stages.py",
        "        threshold=min(max(threshold_at(scores, labels, point), -1.0), 1.0),\n",
        "        threshold=max(threshold_at(scores, labels, point), -1.0),\n",
        (
            "tests/integration/test_faults.py::"
            "test_threshold_outside_cosines_exported_as_the_nearest_cosine",
        ),
    ),
    Mutant(
        "evaluated_split_taken_as_its_own_cohort",
        "speechbrain_emoinv/cli/evaluate.py",
        "    if args.cohort == args.split:  # each trial's own clips in its top-k\n",
        "    if False:\n",
        (
            "tests/integration/test_cli_evaluate.py::"
            "test_cohort_named_must_exist_default_may_not",
        ),
    ),
    Mutant(
        "warm_classifier_skipped",
        "speechbrain_emoinv/stages.py",
        "            n = load_known_classes(\n",
        "            n = 3 or load_known_classes(\n",
        (
            "tests/integration/test_recipe.py::"
            "test_finetune_from_exported_folder",
        ),
    ),
    Mutant(
        "recipe_keys_keep_the_base_comments",
        "tools/flatten_hparams.py",
        "        section, comment, entry = parts(defs[0])\n",
        "        section, comment, entry = parts(lines)\n",
        (
            "tests/integration/test_recipes_corpora.py::"
            "test_flattened_hparams_in_sync",
        ),
    ),
    Mutant(
        "model_card_without_the_real_voices",
        "speechbrain_emoinv/stages.py",
        "    write_model_card(export, card, [results, real])\n",
        "    write_model_card(export, card, [results])\n",
        (
            "tests/integration/test_recipe_export.py::"
            "test_report_card_and_cohort",
        ),
    ),
]


def scratch_copy(dest):
    """The working tree (tracked + untracked, not ignored) into ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (f.decode() for f in files)):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (ROOT / "tests" / "tmp").mkdir(exist_ok=True)
    (dest / "tests" / "tmp").symlink_to(ROOT / "tests" / "tmp")


def run_tests(copy, tests, timeout):
    """Runs pytest in the copy; returns (passed, seconds, output tail)."""
    t0 = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", *tests],
            cwd=copy,
            env=dict(os.environ, OMP_NUM_THREADS="1"),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, time.time() - t0, ["timed out"]
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode == 0, time.time() - t0, out


def reason(lines):
    """The first error line pytest printed (why the tests failed)."""
    errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    return (errors or ["?"])[0][:100]


def plant(copy, mutant):
    """Applies the bug; returns the original text (ValueError if stale)."""
    path = copy / mutant.path
    text = path.read_text()
    if text.count(mutant.old) != 1:
        raise ValueError(
            f"{mutant.name}: the code to change occurs "
            f"{text.count(mutant.old)} times in {mutant.path} (expected "
            "once): update MUTANTS"
        )
    path.write_text(text.replace(mutant.old, mutant.new))
    return text


def main(argv=None):
    """Plants the chosen bugs one at a time; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="bugs to plant (all)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MUTANTS}
    for name in args.names:
        if name not in by_name:
            parser.error(f"unknown bug {name}; --list shows them")
    chosen = [by_name[n] for n in args.names] or MUTANTS
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.path} -> {' '.join(m.tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mutation_") as tmp:
        copy = Path(tmp)
        scratch_copy(copy)
        for m in chosen:  # every bug still applies, before any run
            try:
                (copy / m.path).write_text(plant(copy, m))
            except ValueError as err:
                print(f"mutation_check: {err}", file=sys.stderr)
                return 2
        tests = sorted({t for m in chosen for t in m.tests})
        ok, secs, tail = run_tests(copy, tests, args.timeout)
        print(f"unchanged copy: {'pass' if ok else 'FAIL'} ({secs:.0f} s)")
        if not ok:
            print("\n".join(tail[-15:]))
            return 2
        missed = []
        for m in chosen:
            original = plant(copy, m)
            try:
                passed, secs, tail = run_tests(copy, m.tests, args.timeout)
            finally:
                (copy / m.path).write_text(original)
            verdict = "MISSED" if passed else "caught"
            why = "" if passed else f": {reason(tail)}"
            print(f"{verdict:6} {m.name} ({secs:.0f} s){why}", flush=True)
            if passed:
                missed.append(m.name)
    print(f"{len(chosen) - len(missed)} of {len(chosen)} planted bugs caught")
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
