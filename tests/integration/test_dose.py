"""The dose benchmark's statistics and its verdict rule, on made-up runs."""

import json
import shutil

import numpy as np
import pytest

from benchmarks import dose


def test_dprime_known_answer():
    scores = np.array([1.0, 3.0, 0.0, 2.0])  # targets 1, 3; impostors 0, 2
    labels = np.array([1, 1, 0, 0])
    # (2 - 1) / sqrt((1 + 1) / 2)
    assert dose.dprime(scores, labels) == pytest.approx(1.0)


def test_train_pair_cosine_from_the_last_epoch(tmp_path):
    log = tmp_path / "train_log.txt"
    log.write_text(
        "epoch: 1, lr: 1e-3 - train loss: 3.0, train pair: 4.0e-01 - valid EER: 9\n"
        "epoch: 2, lr: 1e-4 - train loss: 2.0, train pair: 2.5e-01, train "
        "pair_weight: 1.0 - valid EER: 8\n"
    )
    assert dose.train_pair_cosine(log) == pytest.approx(0.75)


def _fake_runs(root, cosine, merged, penalty):
    """Finished runs: per lambda a function of the seed for each metric."""
    for lam in dose.LAMBDAS:
        for seed in (1, 2, 3, 4):
            d = root / dose.row_name(lam) / f"seed{seed}"
            d.mkdir(parents=True)
            neutral = 10.0 + seed
            lists = {
                "merged": merged(lam, seed),
                "neutral": neutral,
                "cross": neutral + penalty(lam, seed),
                "emo_emo": neutral + 2 * penalty(lam, seed),
            }
            res = {
                "lists": {k: {"cosine": {"eer": v}} for k, v in lists.items()}
            }
            (d / "results.json").write_text(json.dumps(res))
            real = {"lists": {"merged": {"cosine": {"eer": 20.0}}}}
            (d / "real_results.json").write_text(json.dumps(real))
            stats = {k: 0.0 for k in dose.METRICS if "prime" in k or "imp" in k}
            stats["train_pair_cosine"] = cosine(lam, seed)
            (d / "dose_stats.json").write_text(json.dumps(stats))
            (d / "run.json").write_text("{}")


FALLS = lambda lam, s: 3.0 - 0.1 * float(lam)  # noqa: E731  (penalty)
EER_FALLS = lambda lam, s: (  # noqa: E731
    14.0 - (float(lam) >= 1) * (1 + 0.1 * s) - (lam == "3") * 0.5
)


@pytest.mark.parametrize(
    "cosine, merged, penalty, expect",
    [
        # the cosine does not move with lambda: a bug
        (lambda lam, s: 0.6, lambda lam, s: 14.0, FALLS, "a bug"),
        # the cosine rises on every seed, but by 0.03 < 0.05 at lambda 3
        (lambda lam, s: 0.6 + 0.01 * float(lam), EER_FALLS, FALLS, "a bug"),
        # the cosine rises, EER does not fall
        (
            lambda lam, s: 0.6 + 0.02 * float(lam),
            lambda lam, s: 14.0 + 0.1 * s,
            FALLS,
            "cannot help",
        ),
        # the cosine rises, EER falls but the penalty does not
        (
            lambda lam, s: 0.6 + 0.02 * float(lam),
            EER_FALLS,
            lambda lam, s: 3.0,
            "cannot help",
        ),
        # the cosine rises, EER falls on every seed at lambda >= 1, most
        # at lambda 3: the candidate
        (
            lambda lam, s: 0.6 + 0.02 * float(lam),
            EER_FALLS,
            FALLS,
            "blocked the method; candidate lambda 3",
        ),
    ],
)
def test_verdict_rule(tmp_path, monkeypatch, cosine, merged, penalty, expect):
    monkeypatch.setattr(dose, "RESULTS", tmp_path)
    _fake_runs(tmp_path, cosine, merged, penalty)
    summary, md = dose.aggregate()
    assert expect in summary["verdict"]["text"]
    assert expect in md and "| 10 | 4 |" in md


def test_verdict_pending_until_every_lambda_has_the_same_seeds(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(dose, "RESULTS", tmp_path)
    flat = lambda lam, s: 0.6  # noqa: E731  (would read "a bug" when done)
    _fake_runs(tmp_path, flat, lambda lam, s: 14.0, lambda lam, s: 3.0)
    for seed in (2, 3, 4):  # lambda 3 has seed 1 only
        shutil.rmtree(tmp_path / dose.row_name("3") / f"seed{seed}")
    summary, md = dose.aggregate()
    assert summary["verdict"]["text"].startswith("pending"), summary["verdict"]
    assert "3: 1" in md


def _run(sim, real):
    lists = {
        "merged": {"cosine": {"eer": sim}},
        "real_merged": {"cosine": {"eer": real}},
    }
    return ({"lists": lists}, {})


def test_forgetting_rules_of_tuning_section_4():
    from benchmarks import tuning

    base = {s: _run(12.0, 26.0) for s in (1, 2, 3)}
    loaded = {
        "no_rehearsal": base,
        # real better by 1 point, sim 4 % worse: qualifies, score 18.74
        "valid_eval": {s: _run(12.48, 25.0) for s in (1, 2, 3)},
        # real better, sim 10 % worse: fails the 5 % bound
        "warm": {s: _run(13.2, 22.0) for s in (1, 2, 3)},
        # qualifies, score 0.2 above valid_eval's: the cheaper one wins
        "l2sp": {s: _run(12.4, 25.48) for s in (1, 2, 3)},
        # paired rows: lower score on 2 of 3 seeds but higher on the mean
        "rehearsal_pairs": {
            1: _run(12.0, 25.0),
            2: _run(12.0, 25.0),
            3: _run(16.0, 27.0),
        },
    }
    rules = tuning.forgetting_rules(loaded)
    r = rules["remedies"]
    assert r["valid_eval"]["qualifies"] and r["l2sp"]["qualifies"]
    assert not r["warm"]["qualifies"]
    assert r["valid_eval"]["score"] == pytest.approx((12.48 + 25.0) / 2)
    assert rules["chosen"] == "l2sp"
    # l2sp qualifies but scores 0.5 above valid_eval: beyond 0.3, best wins
    worse = dict(loaded, l2sp={s: _run(12.58, 25.9) for s in (1, 2, 3)})
    rules = tuning.forgetting_rules(worse)
    assert rules["remedies"]["l2sp"]["qualifies"]
    assert rules["chosen"] == "valid_eval"
    assert rules["rehearsal_pairs"]["lower_on"] == 2
    assert not rules["rehearsal_pairs"]["adopted"]
    # without the cheap one, the lowest score wins; with none, no remedy
    del loaded["l2sp"]
    assert tuning.forgetting_rules(loaded)["chosen"] == "valid_eval"
    loaded["valid_eval"] = {s: _run(12.0, 26.5) for s in (1, 2, 3)}
    assert tuning.forgetting_rules(loaded)["chosen"] == "no_rehearsal"
