"""The recipe's two-stage flow: checks, stage 1 (trained once, cached),
training, export and evaluation.

``run(hparams_file, run_opts, overrides, brain_class, dataio_prep)`` is the
recipe's body: the recipe passes its Brain class and data preparation (this
module never imports the recipe). A config that names a ``pretrain_config``
first gets that stage 1 (:func:`pretrained_stage1`, keyed by
:func:`stage1_folder`) and fine-tunes from its export.

Authors
 * speechbrain-emoinv contributors 2026
"""

import contextlib
import hashlib
import logging
import os
import random
import time

import numpy as np
import speechbrain as sb
import torch
from speechbrain.utils.distributed import (
    ddp_broadcast,
    if_main_process,
    run_on_main,
)

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
from speechbrain_emoinv.data.prepared_folder import SplitError
from speechbrain_emoinv.distillation import distilling
from speechbrain_emoinv.evaluation.embedding import (
    BATCH_SIZE,
    embed_rows,
    embedding_key,
)
from speechbrain_emoinv.evaluation.report import (
    fit_llr_calibration,
    metrics_table,
)
from speechbrain_emoinv.export.folder import export_pretrained, save_cohort
from speechbrain_emoinv.export.formats import write_onnx
from speechbrain_emoinv.export.model_card import write_model_card
from speechbrain_emoinv.finetune import (
    CLASSIFIER_FILE,
    LABELS_FILE,
    freeze_blocks,
    load_embedding_weights,
    load_known_classes,
)
from speechbrain_emoinv.interpolation import choose_mix
from speechbrain_emoinv.metrics import threshold_at
from speechbrain_emoinv.pipelines import check_speakers, check_trials
from speechbrain_emoinv.pretrained import (
    load_model,
    model_fingerprint,
    read_metadata,
)
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
from speechbrain_emoinv.scoring import EmbeddingCache
from speechbrain_emoinv.validation import debug_validation

logger = logging.getLogger(__name__)


def best_was_last(brain):
    """Whether ``brain.evaluate(min_key="EER")`` would only repeat the
    validation pass this process has just made: the model in memory is
    the last end-of-epoch checkpoint, which is the best, and nothing is
    averaged (a pass is ~40 s of each stage of the main command here).
    Single-process runs only: DDP runs keep the post-fit pass (every rank
    scores it, unsharded, so no collective is left waiting)."""
    if (
        not hasattr(brain, "last_valid")  # no epoch ran in this process
        or brain.distributed_launch
        or brain.hparams.average_last_n > 1
    ):
        return False
    checkpointer = brain.checkpointer
    best = checkpointer.find_checkpoint(min_key="EER")
    last = checkpointer.find_checkpoint(
        ckpt_predicate=lambda c: "EER" in c.meta
    )
    return best is not None and best.path == last.path


def interpolate_with_start(brain, valid, hparams):
    """WiSE-FT: the export mixes the recovered model with the weights it
    was fine-tuned from, ``a`` chosen on the validation voices by
    ``pick_mix`` (real voices first: the best mean of the corpora's EERs
    among the mixes at most ``REAL_TOLERANCE`` points worse than stage 1
    on the real ones); the
    validation scores of the chosen mix are kept for the threshold and
    calibration. Called right after ``brain`` scored its recovered model
    (the ``a = 1`` end), whose pass is not repeated."""
    start = torch.load(
        os.path.join(
            hparams["save_folder"], "pretrained_init", "embedding_model.ckpt"
        ),
        map_location=brain.device,
        weights_only=True,
    )
    # a = 1 is the model the caller has just scored: that pass is reused.
    fitted = (brain.last_valid, brain.valid_scores)
    passes = []

    def validate():
        brain.evaluate(
            valid, test_loader_kwargs=hparams["valid_dataloader_options"]
        )
        passes.append((brain.last_valid, brain.valid_scores))
        return brain.last_valid

    brain.keep_weights = True
    weights = sorted(hparams["interpolate"])
    best, stats = choose_mix(
        hparams["embedding_model"], start, weights, validate, fitted[0]
    )
    brain.keep_weights = False
    rest = [a for a in weights if a != 1]
    scored = {1: fitted, **dict(zip(rest, passes, strict=True))}
    brain.last_valid, brain.valid_scores = scored[best]
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
    """Exports the embedding model as it stands (the best or averaged
    checkpoint, or the mix :func:`interpolate_with_start` chose) with the
    threshold of ``operating_point`` and an LLR calibration chosen on the
    validation speakers, and its ``embedding.onnx`` (``export_onnx``);
    scores the evaluation speakers' lists (and, with ``evaluate_real``, the
    real voices'), stores the cohort, writes the model card with a table
    per evaluation and logs every list in one table; returns the first
    evaluation's results."""
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
        # Stored as the nearest cosine: -inf (accept every trial, e.g. a
        # minDCF prior above 0.5) as -1, and a float32 cosine of identical
        # embeddings (up to 1.0000002) as 1: the same decisions for cosines.
        threshold=min(max(threshold_at(scores, labels, point), -1.0), 1.0),
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
    if hparams["export_onnx"]:
        logger.info("ONNX: %s", write_onnx(export))
    results = hparams["evaluate"](model_dir=export, device=brain.device)
    if hparams["export_cohort"]:
        # the batch size keys the evaluation's embedding cache
        batch_size = hparams["evaluate"].keywords.get("batch_size", BATCH_SIZE)
        export_cohort(export, hparams["eval_folder"], brain.device, batch_size)
    if not hparams.get("evaluate_real"):
        write_model_card(export, card, [results])
        return results
    real = hparams["evaluate_real"](model_dir=export, device=brain.device)
    write_model_card(export, card, [results, real])
    lists = dict(results["lists"])
    lists.update(
        (name if name.startswith("real") else f"real_{name}", res)
        for name, res in real["lists"].items()
    )
    logger.info(
        "All lists (simulated and real voices):\n%s", metrics_table(lists)
    )
    return results


def export_cohort(model_dir, eval_folder, device, batch_size):
    """Stores the evaluation's score-normalisation cohort in the export:
    the rows of the ``cohort.csv`` it wrote, with the embeddings its cache
    holds (the very ones its s-norm / AS-norm used; ``batch_size``: the
    evaluation's, which keys its cache)."""
    path = os.path.join(eval_folder, "cohort.csv")
    if not os.path.isfile(path):
        logger.info("No cohort in %s: none stored in the export", path)
        return
    rows = read_manifest(path, strict=False)
    ids = [r["ID"] for r in rows]
    # run_evaluation's cache (PyTorch)
    key = embedding_key(model_fingerprint(model_dir), "pytorch", batch_size)
    cache = EmbeddingCache(os.path.join(eval_folder, "embedding_cache"), key)
    cached_ids, emb = cache.get(
        path,
        lambda: (
            ids,
            embed_rows(load_model(model_dir, device=device), rows, batch_size),
        ),
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


def pretrained_stage1(config, folder, run_opts, brain_class, dataio_prep):
    """Stage 1 of the two-stage flow, trained once and reused.

    The stage-1 run lives in ``folder`` (:func:`stage1_folder`). It is
    reused only when its completion record, written last, names the
    export that is there; otherwise (a new, interrupted or half-exported
    run) it is run again, resuming from its checkpoints. Concurrent stage-2
    runs wait for the one that holds its lock. Command-line overrides of
    stage 2 (seed, epochs, ...) never reach it; run options (device, ...)
    do. ``brain_class`` and ``dataio_prep``: the recipe's (:func:`run`).

    Returns
    -------
    str
        The exported stage-1 folder (``embedding_model.ckpt``).
    """
    export = os.path.join(folder, "pretrained")
    with output_lock(folder, wait=True):
        # Only the main process waits for the lock: its finding stands for
        # every rank (another rank's own look could precede the run that
        # holds the lock finishing, and train stage 1 alone).
        why = ddp_broadcast(
            incomplete(folder, export) if if_main_process() else None
        )
        if why is None:
            logger.info("Stage 1: reusing %s (%s)", export, config)
        else:
            logger.info("Stage 1: training %s in %s: %s", config, folder, why)
            with random_state_kept():
                run(
                    config,
                    run_opts,
                    {"output_folder": folder},
                    brain_class,
                    dataio_prep,
                )
    return export


@contextlib.contextmanager
def random_state_kept():
    """Restores Python's, NumPy's and torch's random states and
    SpeechBrain's ``SB_GLOBAL_SEED`` (which seeds its training shuffle and
    its noise/RIR readers) when the block ends.

    Stage 1 trained inside stage 2's process loads its own config, which
    seeds everything with stage 1's seed; without this, stage 2 would then
    draw from stage 1's seed, and differently from a run that reuses a
    cached stage 1 (a resumed one, say).

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> with random_state_kept():
    ...     _ = sb.utils.seed_everything(1)
    ...     _ = torch.rand(1)
    >>> after = torch.rand(1)
    >>> _ = torch.manual_seed(0)
    >>> bool(after == torch.rand(1))
    True
    """
    states = random.getstate(), np.random.get_state()
    global_seed = os.environ.get("SB_GLOBAL_SEED")
    try:
        with torch.random.fork_rng():
            yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        if global_seed is None:
            os.environ.pop("SB_GLOBAL_SEED", None)
        else:
            os.environ["SB_GLOBAL_SEED"] = global_seed


def run(hparams_file, run_opts, overrides, brain_class, dataio_prep):
    """Checks the settings and the output folder, prepares the data,
    trains (from stage 1 when the config names one), exports and
    evaluates; records the run as complete last.

    Parameters
    ----------
    hparams_file, run_opts, overrides
        As ``speechbrain.parse_arguments`` returns them.
    brain_class : type
        The recipe's ``sb.core.Brain`` subclass.
    dataio_prep : callable
        ``dataio_prep(hparams)`` -> (train, valid) datasets.
    """
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
        check_same_config(
            folder,
            resolved_config(config_text, overrides),
            hparams["checkpointer"],
        )
        sb.core.create_experiment_directory(folder)
        if if_main_process():
            save_resolved_config(config_text, overrides, folder)
            clear_complete(folder)
        if stage1:
            hparams["pretrained_path"] = pretrained_stage1(
                hparams["pretrain_config"],
                stage1,
                run_opts,
                brain_class,
                dataio_prep,
            )
            # Stage 1 pointed the log file at its own folder: back to ours.
            sb.core.create_experiment_directory(folder)
        train_export_evaluate(hparams, run_opts, brain_class, dataio_prep)
        if if_main_process():
            mark_complete(folder, hparams["export_folder"])
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def train_export_evaluate(hparams, run_opts, brain_class, dataio_prep):
    """Prepares and checks the data, trains, exports and evaluates
    (``brain_class``, ``dataio_prep``: as :func:`run`'s)."""
    started = time.time()  # this stage only
    try:
        run_on_main(hparams["prepare_data"])
    except SplitError as err:  # the user's speaker lists: one line
        raise RunError(f"{hparams['data_folder']}: {err}") from err
    except WriteError:
        raise
    except (OSError, ValueError) as err:  # the user's corpus: one line
        logger.debug("The data preparation failed", exc_info=True)  # log.txt
        raise RunError(f"preparing {hparams['data_folder']}: {err}") from err
    for key in ("train_annotation", "valid_annotation", "rehearsal_annotation"):
        if hparams[key]:
            check_training_manifest(
                hparams[key],
                hparams["sample_rate"],
                os.path.join(hparams["save_folder"], "audio_checked.json"),
            )
    check_speakers(hparams)  # before the augmentation material is made
    check_trials(hparams)
    if hparams["use_augment"] and hparams["prepare_augment"]:
        run_on_main(hparams["prepare_augment"])
    if distilling(hparams):  # the teacher embeds once (cached)
        run_on_main(
            hparams["teacher_embeddings"], args=[hparams["train_annotation"]]
        )
    train, valid = dataio_prep(hparams)
    valid = debug_validation(valid, hparams, run_opts)
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
        if hparams["freeze_blocks"]:
            n = freeze_blocks(
                hparams["embedding_model"], hparams["freeze_blocks"]
            )
            logger.info(
                "Frozen: the first %d blocks (%d parameters)",
                hparams["freeze_blocks"],
                n,
            )
    # L2-SP's starting point: the loaded weights (before any checkpoint).
    hparams["l2sp"].anchor(hparams["embedding_model"])

    if distilling(hparams):
        hparams["checkpointer"].add_recoverable(
            "distillation", hparams["distillation"]
        )
    brain = brain_class(
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
    if best_was_last(brain):
        logger.info("The last epoch is the best: its validation pass is kept")
    else:
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
        # The evaluation runs on rank 0 alone (the others wait in run()).
        export_and_evaluate(brain, hparams)
        logger.info(
            "Finished %s in %.1f min (preparation, training, export, "
            "evaluation): %s",
            hparams["config_file"],
            (time.time() - started) / 60,
            hparams["output_folder"],
        )
