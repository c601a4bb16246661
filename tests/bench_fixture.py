"""Fixture results for the benchmark smoke tests: the evaluation output a
recipe run would write, with numbers made up from (run name, seed), and a
stand-in for ``.venv/bin/python train_speaker_embeddings.py`` that writes
them (``python bench_fixture.py SCRIPT HPARAMS --seed=S
--output_folder=DIR``; it fails when ``FAKE_RECIPE_FAIL`` names the run,
and leaves out the real voices' evaluation when ``FAKE_RECIPE_NO_REAL``
does).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

from benchmarks.ablation import NORMS, REAL_LISTS, ROWS, SIM_LISTS
from benchmarks.tuning import VARIANTS

NAMES = ROWS + list(VARIANTS)
EMOTIONS = ["angry", "neutral", "sad"]
PER_CLASS = 200  # target and non-target trials per enrolment speaker
STAGE1 = "results/pretrain/fakekey"


def fake_eer(name, seed, lst, norm="cosine"):
    """EER (%) of one list and scoring of a made-up run (with cosine a
    multiple of 0.5, which ``fake_trials`` reproduces exactly)."""
    i = NAMES.index(name)
    offset = {
        "neutral": 0.0,
        "cross": 2.0 + 0.5 * (i % 3),
        "emo_emo": 3.0,
        "merged": 1.5,
        "real_read": 6.0 - 0.5 * (i % 3),
        "real_acted": 9.0 + 0.5 * (i % 2),
        # the real voices' merged list (fake_real_results: real_acted's)
        "real_merged": 9.0 + 0.5 * (i % 2),
    }
    return 20.0 - i + 0.5 * seed + offset[lst] + 0.25 * NORMS.index(norm)


def fake_trials(eer, spread):
    """Trials of four enrolment speakers with ``k_j`` of the ``PER_CLASS``
    target and of the non-target trials of speaker ``j`` on the wrong side
    of 0, the ``k_j`` spread around ``eer``: the EER under any speaker
    weights is the weighted mean of ``k_j / PER_CLASS``.

    Returns
    -------
    dict
        ``score``, ``label``, ``enrol_spk``, ``test_spk`` arrays, as in
        ``scores.npz``.
    """
    ks = round(eer * PER_CLASS / 100) + spread * np.array([-3, -1, 1, 3])
    trials = {"score": [], "label": [], "enrol_spk": [], "test_spk": []}
    for j, k in enumerate(ks):
        good = PER_CLASS - k
        trials["score"] += [-0.1] * k + [1.0] * good + [0.1] * k + [-1.0] * good
        trials["label"] += [True] * PER_CLASS + [False] * PER_CLASS
        trials["enrol_spk"] += [f"spk{j}"] * 2 * PER_CLASS
        trials["test_spk"] += [f"spk{j}"] * PER_CLASS
        trials["test_spk"] += [f"spk{(j + 1) % 4}"] * PER_CLASS
    return {key: np.array(value) for key, value in trials.items()}


def fake_scores(name, seed, lists):
    """``scores.npz`` content of a made-up run."""
    spread = 1 + (NAMES.index(name) + seed) % 3
    return {
        f"{lst}/{key}": value
        for lst in lists
        for key, value in fake_trials(fake_eer(name, seed, lst), spread).items()
    }


def _list_results(name, seed, lst):
    i = NAMES.index(name)
    return {
        "n_trials": 8 * PER_CLASS,
        "n_excluded": 0,
        **{
            norm: {
                "eer": fake_eer(name, seed, lst, norm),
                "min_dcf@0.01": round(0.5 + 0.01 * i + 0.002 * seed, 6),
                "min_dcf@0.05": round(0.4 + 0.01 * i, 6),
            }
            for norm in NORMS
        },
    }


def fake_results(name, seed):
    """``results.json`` of a made-up run (the fields the scripts read)."""
    i = NAMES.index(name)
    n = fake_eer(name, seed, "neutral")
    same = round(0.8 - 0.01 * i, 6)
    cross = round(same - 0.05 + 0.002 * i, 6)
    return {
        "split": "eval",
        "lists": {lst: _list_results(name, seed, lst) for lst in SIM_LISTS},
        "emotion_gap": {
            norm: fake_eer(name, seed, "cross", norm)
            - fake_eer(name, seed, "neutral", norm)
            for norm in NORMS
        },
        "eer_matrix": {
            "emotions": EMOTIONS,
            "eer": [[n + 4, None, n + 5], [n + 1, n, n + 2], [n + 6, None, n]],
            "n_trials": [[4, 0, 4], [4, 4, 4], [4, 0, 4]],
        },
        "leakage_probe": {
            "accuracy": round(0.4 + 0.01 * i + 0.001 * seed, 6),
            "chance_accuracy": 1 / 3,
            "within_speaker_cosine": {
                "same_emotion": same,
                "cross_emotion": cross,
                "gap": round(same - cross, 6),
            },
        },
    }


def fake_real_results(name, seed):
    """``eval/real/results.json`` of a made-up run (no emotion labels)."""
    lists = {lst: _list_results(name, seed, lst) for lst in REAL_LISTS}
    lists["merged"] = _list_results(name, seed, "real_acted")
    return {
        "split": "eval",
        "lists": lists,
        "emotion_gap": dict.fromkeys(NORMS),
        "leakage_probe": None,
    }


def fake_recipe(argv):
    """Writes what a finished recipe run leaves in its output folder."""
    name = Path(argv[1]).stem
    seed = int(next(a for a in argv if a.startswith("--seed="))[7:])
    out = Path(next(a for a in argv if a.startswith("--output_folder="))[16:])
    if os.environ.get("FAKE_RECIPE_FAIL") == name:
        print(f"fake recipe: {name} fails", file=sys.stderr)
        return 1
    # As the recipe logs: stage 1 only without --pretrained_path.
    given = [a[18:] for a in argv if a.startswith("--pretrained_path=")]
    stage1 = Path(STAGE1) / "pretrained"
    if given:
        stage1 = given[-1]
    elif stage1.is_dir():
        print(f"__main__ - Stage 1: reusing {stage1} (hparams/pretrain.yaml)")
    else:
        print(f"__main__ - Stage 1: training hparams/pretrain.yaml in {STAGE1}")
        stage1.mkdir(parents=True)
        for file in ("embedding_model.ckpt", "hyperparams.yaml"):
            (stage1 / file).write_text("fake stage 1\n")
    print(f"__main__ - Fine-tuning from {stage1}")
    evaluation = out / "eval"
    evaluation.mkdir(parents=True, exist_ok=True)
    (evaluation / "results.json").write_text(
        json.dumps(fake_results(name, seed))
    )
    (evaluation / "results.md").write_text(f"# {name} seed {seed}\n")
    for figure in ("det.png", "eer_matrix.png"):
        (evaluation / figure).write_bytes(b"not a real PNG")
    np.savez_compressed(
        evaluation / "scores.npz", **fake_scores(name, seed, SIM_LISTS)
    )
    if os.environ.get("FAKE_RECIPE_NO_REAL") != name:
        (evaluation / "real").mkdir(exist_ok=True)
        (evaluation / "real" / "results.json").write_text(
            json.dumps(fake_real_results(name, seed))
        )
        np.savez_compressed(
            evaluation / "real" / "scores.npz",
            **fake_scores(name, seed, [*REAL_LISTS, "merged"]),
        )
    (out / "train_log.txt").write_text(
        "".join(
            f"epoch: {e}, lr: 1e-3 - train loss: 1.0 - valid EER: "
            f"{30.0 - 5 * e + seed:.2f}, valid threshold: 0.5\n"
            for e in (1, 2)
        )
    )
    (out / "pretrained").mkdir(exist_ok=True)
    (out / "pretrained" / "embedding_model.ckpt").write_text("weights")
    return 0


if __name__ == "__main__":
    sys.exit(fake_recipe(sys.argv[1:]))
