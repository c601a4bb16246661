"""run_evaluation end to end on a toy folder; known answers; bad input."""

import json

import numpy as np
import pytest
import torch
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation import (
    embedding as embedding_mod,
    run_evaluation,
)
from speechbrain_emoinv.evaluation.embedding import embedding_key
from speechbrain_emoinv.evaluation.run import read_lists
from speechbrain_emoinv.metrics import compute_eer, verification_metrics
from speechbrain_emoinv.pretrained import model_fingerprint
from speechbrain_emoinv.scoring import EmbeddingCache, manifest_key, score_all

EMOS = ("neutral", "angry", "happy")
QUIET = dict(log=lambda *a: None)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    data = make_toy_data(root / "data", n_train=3, n_eval=4, emotions=EMOS)
    model = make_toy_model(root / "model", threshold=0.5)
    return data, model


def _trial_lines(path):
    return [ln.split() for ln in path.read_text().splitlines() if ln.strip()]


def test_end_to_end_with_exclusion(toy, tmp_path, monkeypatch, capsys):
    data, model = toy
    (tmp_path / "ban.txt").write_text("toy_e3\n")
    out = tmp_path / "out"
    res = run_evaluation(
        model,
        data,
        out,
        exclude=f"@{tmp_path / 'ban.txt'}",
        cohort_size=20,
        topk=5,
        projection="pca",
    )
    printed = capsys.readouterr().out
    for name in ("results.json", "results.md", *res["plots"]):
        assert (out / name).is_file(), name
    assert sorted(res["plots"]) == sorted(
        ["det.png", "score_hist.png", "eer_matrix.png", "embeddings_2d.png"]
    )
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["lists"]) == {"neutral", "cross", "emo_emo", "merged"}
    # Exclusion counts equal a direct count over the files.
    total = 0
    for name, res_list in saved["lists"].items():
        lines = _trial_lines(data / "trials" / "eval" / f"{name}.txt")
        drop = sum("toy_e3" in ln[1] or "toy_e3" in ln[2] for ln in lines)
        assert res_list["n_excluded"] == drop > 0
        assert res_list["n_trials"] == len(lines) - drop
        assert set(res_list) >= {"cosine", "snorm", "asnorm"}
        total += drop
    assert saved["excluded"] == {"n_speakers": 1, "n_trials": total}
    assert f"excluded {total} trials" in printed
    assert "AS-norm" in printed and "emotion gap" in printed
    lists = saved["lists"]
    for norm in ("cosine", "snorm", "asnorm"):
        assert saved["emotion_gap"][norm] == pytest.approx(
            lists["cross"][norm]["eer"] - lists["neutral"][norm]["eer"]
        )
    # AS-norm keeps the top 5 of the 20-utterance cohort: its metrics are
    # score_all's with topk=5 (here they differ from s-norm's)
    emb, cohort = (
        torch.load(path, weights_only=True)["emb"]
        for p in (data / "eval.csv", out / "cohort.csv")
        for path in out.glob(f"embedding_cache/*/{manifest_key(p)}.pt")
    )
    rows = read_manifest(data / "eval.csv")
    trials, _ = read_lists(data, "eval", rows, {"toy_e3"})
    for name, t in trials.items():
        want = score_all(emb, t.enrol, t.test, cohort, 5)
        for norm in ("snorm", "asnorm"):
            m = verification_metrics(want[norm], t.labels)
            assert lists[name][norm]["eer"] == pytest.approx(m["eer"])
            assert lists[name][norm]["eer_threshold"] == pytest.approx(
                m["eer_threshold"]
            )
    assert lists["merged"]["asnorm"]["eer"] != pytest.approx(
        lists["merged"]["snorm"]["eer"]
    )
    assert saved["emotion_gap"]["snorm"] != pytest.approx(
        saved["emotion_gap"]["cosine"]
    )
    assert saved["eer_matrix"]["emotions"] == sorted(EMOS)
    probe = saved["leakage_probe"]
    assert probe["n_speakers"] == 3 and probe["accuracy"] is not None

    # Second run: everything from the cache, the model is never loaded.
    def no_load(*a, **k):
        raise AssertionError("model loaded although cached")

    monkeypatch.setattr(embedding_mod, "load_model", no_load)
    again = run_evaluation(
        model, data, out, cohort_size=20, topk=5, plots=False, **QUIET
    )
    assert again["lists"]["merged"]["n_excluded"] == 0


def _inject(data, model, cache_dir, emb_fn):
    rows = read_manifest(data / "eval.csv")
    emb = emb_fn(rows)
    # run_evaluation's cache: PyTorch, its default batch size
    key = embedding_key(model_fingerprint(model), "pytorch", 16)
    cache = EmbeddingCache(cache_dir, key)
    cache.get(data / "eval.csv", lambda: ([r["ID"] for r in rows], emb))
    return rows, emb


def _crafted(rows, emo_weight):
    """Speaker one-hot + emo_weight * emotion one-hot."""
    spk = sorted({r["spk_id"] for r in rows})
    emb = torch.zeros(len(rows), len(spk) + len(EMOS))
    for i, r in enumerate(rows):
        emb[i, spk.index(r["spk_id"])] = 1.0
        emb[i, len(spk) + EMOS.index(r["emotion"])] = emo_weight
    return emb


def test_known_answers_with_crafted_embeddings(toy, tmp_path):
    data, model = toy
    cache = tmp_path / "cache"
    rows, emb = _inject(data, model, cache, lambda r: _crafted(r, 2.0))
    res = run_evaluation(
        model,
        data,
        tmp_path / "o",
        cohort=None,
        cache_dir=cache,
        plots=False,
        **QUIET,
    )
    index = {r["ID"]: i for i, r in enumerate(rows)}
    unit = torch.nn.functional.normalize(emb, dim=1)
    saved = np.load(tmp_path / "o" / "scores.npz")
    for name in ("neutral", "cross", "emo_emo", "merged"):
        lines = _trial_lines(data / "trials" / "eval" / f"{name}.txt")
        e = [index[ln[1]] for ln in lines]
        t = [index[ln[2]] for ln in lines]
        scores = (unit[e] * unit[t]).sum(1).numpy()
        labels = np.array([ln[0] == "1" for ln in lines])
        want = 100 * compute_eer(scores, labels)[0]
        assert res["lists"][name]["cosine"]["eer"] == pytest.approx(want)
        # scores.npz: the same trials, in file order, with their speakers.
        np.testing.assert_allclose(saved[f"{name}/score"], scores, atol=1e-6)
        assert (saved[f"{name}/label"] == labels).all()
        for field, col in (("enrol_spk", 1), ("test_spk", 2)):
            spk = [rows[index[ln[col]]]["spk_id"] for ln in lines]
            assert saved[f"{name}/{field}"].tolist() == spk
        assert set(res["lists"][name]) == {"n_trials", "n_excluded", "cosine"}
    # Emotion dominates: same-emotion impostors (0.8) beat cross-emotion
    # targets (0.2), so neutral is clean and emo_emo is not.
    assert res["lists"]["neutral"]["cosine"]["eer"] == 0.0
    assert res["lists"]["emo_emo"]["cosine"]["eer"] > 10.0
    probe = res["leakage_probe"]
    assert probe["accuracy"] == 1.0
    assert probe["chance_accuracy"] < 0.5
    cos = probe["within_speaker_cosine"]
    assert cos["same_emotion"] == pytest.approx(1.0)
    assert cos["cross_emotion"] == pytest.approx(0.2)
    assert cos["gap"] == pytest.approx(0.8)  # same - cross
    diag = [res["eer_matrix"]["eer"][i][i] for i in range(3)]
    assert all(v is not None for v in diag)


def test_nan_embedding_named(toy, tmp_path):
    data, model = toy

    def bad(rows):
        emb = _crafted(rows, 0.0)
        emb[3, 0] = float("nan")
        return emb

    rows = read_manifest(data / "eval.csv")
    with pytest.raises(ValueError, match=repr(rows[3]["ID"])):
        _inject(data, model, tmp_path / "c", bad)


@pytest.mark.parametrize(
    "text,match",
    [
        (
            "1 toy_e0_neutral_0 nobody neutral neutral\n",
            ":1: unknown utterance",
        ),
        ("", "empty trial list"),
        ("1 toy_e0_neutral_0 toy_e0_angry_1 neutral angry\n", "both classes"),
        ("2 toy_e0_neutral_0 toy_e0_angry_1\n", "label must be 0 or 1"),
    ],
)
def test_bad_trial_lists(toy, tmp_path, text, match):
    data, model = toy
    bad = tmp_path / "bad"
    (bad / "trials" / "eval").mkdir(parents=True)
    (bad / "eval.csv").write_text((data / "eval.csv").read_text())
    (bad / "trials" / "eval" / "broken.txt").write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        run_evaluation(model, bad, tmp_path / "o", cohort=None, **QUIET)
    assert "broken.txt" in str(err.value)


def test_exclusion_of_everything_is_an_error(toy, tmp_path):
    data, model = toy
    with pytest.raises(ValueError, match="excluded speaker"):
        run_evaluation(
            model,
            data,
            tmp_path / "o",
            cohort=None,
            exclude="toy_e0,toy_e1,toy_e2,toy_e3",
            **QUIET,
        )
