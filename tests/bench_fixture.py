"""Fixture results for the benchmark smoke tests: the evaluation output a
recipe run would write, with numbers made up from (run name, seed), and a
stand-in for ``.venv/bin/python train_speaker_embeddings.py`` that writes
them (``python bench_fixture.py SCRIPT HPARAMS --seed=S
--output_folder=DIR``; it fails when ``FAKE_RECIPE_FAIL`` names the run).
"""

import json
import os
import sys
from pathlib import Path

LISTS = ["neutral", "cross", "emo_emo", "merged"]
NORMS = ["cosine", "snorm", "asnorm"]
EMOTIONS = ["angry", "neutral", "sad"]
NAMES = [
    "baseline",
    "baseline_equal_budget",
    "ablation_copypaste",
    "ablation_copypaste_erl",
    "emoinv",
    "ablation_no_augment",
    "baseline_no_augment",
    "pair_weight_0.5",
    "em_always",
    "copypaste_replace",
    "em_spans",
]


def fake_eer(name, seed, lst, norm):
    """EER (%) of one list and scoring of a made-up run."""
    i = NAMES.index(name)
    offset = {"neutral": 0.0, "cross": 2.0 + 0.1 * i, "emo_emo": 3.0}
    offset["merged"] = 1.0 + 0.05 * i
    return 20.0 - i + 0.5 * seed + offset[lst] + 0.25 * NORMS.index(norm)


def fake_results(name, seed):
    """``results.json`` of a made-up run (the fields the scripts read)."""
    i = NAMES.index(name)
    lists = {
        lst: {
            "n_trials": 100,
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
        for lst in LISTS
    }
    n = fake_eer(name, seed, "neutral", "cosine")
    return {
        "split": "eval",
        "lists": lists,
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
            "within_speaker_cosine": {"gap": round(0.002 * i, 6)},
        },
    }


def fake_recipe(argv):
    """Writes what a finished recipe run leaves in its output folder."""
    name = Path(argv[1]).stem
    seed = int(next(a for a in argv if a.startswith("--seed="))[7:])
    out = Path(next(a for a in argv if a.startswith("--output_folder="))[16:])
    if os.environ.get("FAKE_RECIPE_FAIL") == name:
        print(f"fake recipe: {name} fails", file=sys.stderr)
        return 1
    (out / "eval").mkdir(parents=True, exist_ok=True)
    results = fake_results(name, seed)
    (out / "eval" / "results.json").write_text(json.dumps(results))
    (out / "eval" / "results.md").write_text(f"# {name} seed {seed}\n")
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
