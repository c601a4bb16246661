"""Contract of selection: the exported model is the one the stated
criterion picks.

- ``average_last_n: 1``: the best checkpoint by validation EER. One tiny
  run of two epochs whose validation EERs differ, the better one first (a
  run exporting its last epoch, or keeping the worse one, shows it): the
  run keeps the best checkpoint and the most recent one (to resume), the
  export holds the best one's weights and threshold, and the exported
  folder, scored on the validation lists by the evaluation code, gets the
  train log's best EER.
- ``average_last_n: N``: the average of the last N end-of-epoch
  checkpoints' encoders, never an intra-epoch one (checkpoints with
  weights that name their epoch, averaged by hand).
"""

import math
import re
import sys

import pytest
import torch
from recipe_utils import ROOT, TINY, TINY_DATA, run_recipe, train_log
from speechbrain.core import INTRA_EPOCH_CKPT_FLAG

from speechbrain_emoinv.checkpoints import save_epoch_checkpoint
from speechbrain_emoinv.config import load_config
from speechbrain_emoinv.evaluation.run import run_evaluation
from speechbrain_emoinv.pretrained import read_metadata
from speechbrain_emoinv.validation import score_trials, validation_stats

sys.path.insert(0, str(ROOT))
import train_speaker_embeddings as recipe  # noqa: E402

# Seed of the tiny run: its epoch 1 validates better than its epoch 2
# (EER 31.5 vs 35.0 % when written).
SEED = 4


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("selection") / "run"
    run_recipe(TINY, f"--output_folder={out}", f"--seed={SEED}")
    logged = {}
    for line in train_log(out):
        epoch = int(re.search(r"epoch: (\d+)", line).group(1))
        logged[epoch] = float(re.search(r"valid EER: ([0-9.]+)", line).group(1))
    assert len(logged) >= 2 and len(set(logged.values())) == len(logged)
    best = min(logged, key=logged.get)
    assert best != max(logged), (
        f"the run's last epoch is its best {logged}: which checkpoint is "
        "exported is not tested; choose another SEED"
    )
    assert "its validation pass is kept" not in (out / "log.txt").read_text()
    return out, logged, best


def _meta(ckpt):
    """The keys of a checkpoint's CKPT.yaml, as text."""
    lines = (ckpt / "CKPT.yaml").read_text().splitlines()
    return dict(ln.split(": ", 1) for ln in lines if ": " in ln)


def test_export_is_the_best_checkpoint_of_the_train_log(tiny_run):
    out, logged, best = tiny_run
    kept = {}
    for ckpt in (out / "save").glob("CKPT*"):
        meta = _meta(ckpt)
        if meta.get("end-of-epoch") == "true":
            epoch = int((ckpt / "counter.ckpt").read_text())
            kept[epoch] = ckpt
            assert float(meta["EER"]) == pytest.approx(logged[epoch], abs=5e-3)
    # the best by the criterion, and the most recent for resuming
    assert set(kept) == {best, max(logged)}, (sorted(kept), logged)
    exported = torch.load(
        out / "pretrained" / "embedding_model.ckpt", weights_only=True
    )
    chosen = torch.load(kept[best] / "embedding_model.ckpt", weights_only=True)
    assert exported.keys() == chosen.keys()
    for key, value in chosen.items():
        assert torch.equal(exported[key], value), key
    # its threshold (the EER point of that epoch's validation scores)
    stored = read_metadata(out / "pretrained")["verification_threshold"]
    assert stored == pytest.approx(float(_meta(kept[best])["threshold"]))


def test_exported_model_scores_the_logged_best_on_validation(
    tiny_run, tmp_path
):
    """The evaluation code (its own batching) scores the export on the
    validation list the recipe validated on: the train log's best EER,
    far from the other epochs'."""
    out, logged, best = tiny_run
    results = run_evaluation(
        out / "pretrained",
        TINY_DATA / "prepared",
        tmp_path,
        split="valid",
        cohort=None,
        plots=False,
        probe=False,
        log=lambda *a: None,
    )
    eer = results["lists"]["merged"]["cosine"]["eer"]
    assert eer == pytest.approx(logged[best], abs=1.0), (eer, logged)
    assert all(abs(eer - v) > 2.0 for e, v in logged.items() if e != best)
    card = (out / "pretrained" / "README.md").read_text()
    assert f"## Validation EER\n\n{logged[best]:.2f} %" in card


def _untrained_brain(tmp_path, **overrides):
    """The tiny config's Brain, its checkpoints in ``tmp_path``."""
    hparams, _ = load_config(
        str(TINY),
        {
            "output_folder": str(tmp_path),
            "data_folder": str(TINY_DATA),
            **overrides,
        },
    )
    brain = recipe.EmoInvBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
        checkpointer=hparams["checkpointer"],
    )
    return brain, hparams


@pytest.mark.parametrize("n", [2, 3])
def test_averaging_takes_the_last_n_end_of_epoch_checkpoints(tmp_path, n):
    """Four epochs, each an intra-epoch checkpoint (weights 99) and then
    the recipe's end-of-epoch save, whose encoder weights equal the epoch
    (EERs 10, 30, 25, 20: the best is epoch 1, outside the last n), then
    another intra-epoch one: the evaluated encoder is the mean of epochs
    5 - n ... 4, and those are the checkpoints named."""
    brain, hparams = _untrained_brain(tmp_path, average_last_n=n)
    model, ckpter = hparams["embedding_model"], hparams["checkpointer"]

    def fill(value):
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if tensor.is_floating_point():
                    tensor.fill_(value)

    def intra_epoch_checkpoint():
        fill(99.0)
        ckpter.save_checkpoint(
            meta={INTRA_EPOCH_CKPT_FLAG: True}, end_of_epoch=False
        )

    eers = dict(zip(range(1, 5), (10.0, 30.0, 25.0, 20.0), strict=True))
    for epoch, eer in eers.items():
        intra_epoch_checkpoint()
        fill(float(epoch))
        hparams["epoch_counter"].current = epoch
        save_epoch_checkpoint(ckpter, {"EER": eer}, n)
    intra_epoch_checkpoint()
    brain.on_evaluate_start(min_key="EER")
    last = range(5 - n, 5)
    expected = sum(last) / n
    for key, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor, torch.full_like(tensor, expected)), (
                key
            )
    names = {c.meta.get("EER"): c.path.name for c in ckpter.list_checkpoints()}
    assert sorted(brain.averaged) == sorted(names[eers[e]] for e in last)


@pytest.mark.parametrize(
    "eers, scored, average, kept",
    [
        ((30.0, 20.0), True, 1, True),  # the last is the best: pass kept
        ((20.0, 30.0), True, 1, False),  # an earlier one is the best
        ((30.0, 20.0), False, 1, False),  # no epoch ran in this process
        ((30.0, 20.0), True, 2, False),  # an average is scored
    ],
)
def test_last_epoch_pass_kept_only_when_it_scored_the_best(
    tmp_path, eers, scored, average, kept
):
    """The post-fit validation pass is skipped only where it would score
    the weights in memory again (the last end-of-epoch checkpoint is the
    best, no averaging, an epoch ran here); a newer intra-epoch checkpoint
    does not count."""
    from speechbrain_emoinv.stages import best_was_last

    brain, hparams = _untrained_brain(tmp_path, average_last_n=average)
    for epoch, eer in enumerate(eers, 1):
        hparams["epoch_counter"].current = epoch
        hparams["checkpointer"].save_checkpoint(meta={"EER": eer})
    hparams["checkpointer"].save_checkpoint(
        meta={"brain_intra_epoch_ckpt": True}, end_of_epoch=False
    )
    if scored:
        brain.last_valid = {"EER": eers[-1]}
    assert best_was_last(brain) == kept


def test_validation_weighs_each_corpus_by_its_own_trials(tmp_path):
    """Each trial is counted in the corpus of its enrolment utterance (the
    manifest's ``simulated`` column): a corpus that separates its speakers
    scores 0 % whatever the other corpus's scale."""
    rows = ["ID,duration,wav,start,stop,spk_id,emotion,simulated"]
    # Angles (rad) of two utterances per speaker: the real voices' impostors
    # (cos ~0.8) score above the simulated voices' targets (cos ~0.7).
    angles = {
        ("real", "0"): {"a": (0.0, 0.05), "b": (0.6, 0.65)},
        ("sim", "1"): {"a": (0.0, 0.8), "b": (2.0, 2.8)},
    }
    emb = {}
    for (corpus, flag), speakers in angles.items():
        for spk, utts in speakers.items():
            for i, angle in enumerate(utts):
                utt = f"{corpus}{spk}{i}"
                rows.append(
                    f"{utt},1.0,x.wav,0,16000,{corpus}{spk},neutral,{flag}"
                )
                emb[utt] = torch.tensor([math.cos(angle), math.sin(angle), 0.0])
    (tmp_path / "valid.csv").write_text("\n".join(rows) + "\n")
    trials = [
        f"{int(e[:-1] == t[:-1])} {e} {t}"
        for e in emb
        for t in emb
        if e < t and e[:3] == t[:3]
    ]
    (tmp_path / "trials.txt").write_text("\n".join(trials) + "\n")
    scores, labels, corpus = score_trials(
        emb, tmp_path / "trials.txt", tmp_path / "valid.csv"
    )
    assert sorted(set(corpus)) == ["real", "simulated"]
    assert (corpus == "real").sum() == (corpus == "simulated").sum() == 6
    stats = validation_stats(scores, labels, corpus)
    assert stats["EER real"] == stats["EER simulated"] == stats["score"] == 0
    assert stats["EER"] > 0  # the pooled list mixes the two scales


def test_mix_chosen_real_voices_first():
    """The export is the best mean of the two corpora's validation EERs
    among the mixes that lose at most REAL_TOLERANCE points on the real
    voices against stage 1, whatever the pooled EER says."""
    from speechbrain_emoinv.interpolation import REAL_TOLERANCE, pick_mix

    real = {0.0: 20.0, 0.25: 20.0 + REAL_TOLERANCE, 0.5: 20.6, 1.0: 26.0}
    sim = {0.0: 18.0, 0.25: 16.0, 0.5: 14.0, 1.0: 10.0}
    stats = {
        a: {
            "EER": 30 - 10 * a,
            "EER real": real[a],
            "score": (real[a] + sim[a]) / 2,
        }
        for a in real
    }
    assert pick_mix(stats) == 0.25  # 0.5 and 1.0 score better, lose more
    stats[0.25]["EER real"] += 0.01
    assert pick_mix(stats) == 0.0  # stage 1 itself
    for s in stats.values():  # one corpus: the pooled EER alone
        del s["EER real"], s["score"]
    assert pick_mix(stats) == 1.0
