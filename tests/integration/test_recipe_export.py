"""The recipe's export: stored threshold at the chosen operating point,
LLR calibration, averaged checkpoints, cohort and model card."""

import json

import numpy as np
import pytest
import torch
import yaml
from recipe_utils import ROOT, run_recipe

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation.embedding import embed_rows
from speechbrain_emoinv.evaluation.lists import read_trial_list
from speechbrain_emoinv.metrics import threshold_at, verification_metrics
from speechbrain_emoinv.pretrained import load_model, read_metadata
from speechbrain_emoinv.scoring import cosine_scores, score_all

# the tiny run, evaluated twice (as the default run scores the real voices)
TWO_EVALUATIONS = ROOT / "tests" / "hparams" / "tiny_two_evaluations.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("op") / "run"
    run_recipe(
        TWO_EVALUATIONS,
        f"--output_folder={out}",
        "--operating_point=far=0.05",
        "--average_last_n=2",
        "--number_of_epochs=2",
    )
    return out


def test_threshold_at_operating_point_on_validation(run):
    meta = read_metadata(run / "pretrained")
    assert meta["operating_point"] == "far=0.05"
    # Recompute from the exported model on the validation trials.
    prepared = json.loads((run / "eval" / "results.json").read_text())
    data = prepared["data_dir"]
    rows = read_manifest(f"{data}/valid.csv", strict=False)
    model = load_model(run / "pretrained")
    emb = embed_rows(model, rows, batch_size=32)
    ids = [r["ID"] for r in rows]
    trials = read_trial_list(
        f"{data}/trials/valid/merged.txt", {u: i for i, u in enumerate(ids)}
    )
    scores = cosine_scores(emb, trials.enrol, trials.test, ids=ids)
    # The recipe scored padded validation batches, this whole utterances:
    # scores move by ~1e-3, so the same point is compared with a margin.
    want = threshold_at(scores, trials.labels, "far=0.05")
    eer_point = threshold_at(scores, trials.labels, "eer")
    thr = meta["verification_threshold"]
    assert abs(thr - want) < 0.005 < abs(thr - eer_point)
    # At most 5 % false accepts, whichever way the scores moved (the same
    # 5e-3 margin; a threshold at 5 % misses would let ~30 % in).
    far = np.mean(scores[~trials.labels] > thr + 0.005)
    assert 0 < far <= 0.05
    assert meta["score_calibration"]["scale"] > 0


def test_export_is_the_average_of_the_last_two_checkpoints(run):
    meta = read_metadata(run / "pretrained")
    names = meta["averaged_checkpoints"]
    assert len(names) == 2
    states = [
        torch.load(run / "save" / n / "embedding_model.ckpt", weights_only=True)
        for n in names
    ]
    got = torch.load(run / "pretrained" / "embedding_model.ckpt",
                     weights_only=True)  # fmt: skip
    key = "blocks.0.conv.conv.weight"
    assert not torch.equal(states[0][key], states[1][key])
    torch.testing.assert_close(got[key], (states[0][key] + states[1][key]) / 2)


def test_report_card_and_cohort(run):
    results = json.loads((run / "eval" / "results.json").read_text())
    cosine = results["lists"]["merged"]["cosine"]
    assert 0 <= cosine["act_dcf@0.01"] and cosine["cllr"] > 0
    assert (
        cosine["threshold"]
        == read_metadata(run / "pretrained")["verification_threshold"]
    )
    card = (run / "pretrained" / "README.md").read_text()
    head = yaml.safe_load(card.split("---\n")[1])
    assert head["license"] == "other" and head["datasets"] == [
        "Simulated emotional speech (espeak-ng + MBROLA voices)"
    ]
    row = (
        f"| merged | cosine | {results['lists']['merged']['n_trials']} | "
        f"{cosine['eer']:.2f} | {cosine['min_dcf@0.01']:.3f} | "
        f"{cosine['act_dcf_bayes@0.01']:.3f} | {cosine['cllr']:.3f} | "
        f"{100 * cosine['p_miss']:.2f} | {100 * cosine['p_fa']:.2f} |"
    )
    assert row in card
    assert results["data_dir"] not in card  # no path of this machine
    # each evaluation its lead and table: the second one's after its lead
    second = json.loads((run / "eval" / "second" / "results.json").read_text())
    assert second["split"] == "valid"
    merged = second["lists"]["merged"]
    row = f"| merged | cosine | {merged['n_trials']} | {merged['cosine']['eer']:.2f} |"
    assert row in card.split("Split `valid` of the prepared folder")[1]
    cohort = torch.load(run / "pretrained" / "cohort_embeddings.pt",
                        weights_only=True)  # fmt: skip
    ids = [r["ID"] for r in read_manifest(run / "eval" / "cohort.csv",
                                          strict=False)]  # fmt: skip
    assert cohort["ids"] == ids
    assert len(ids) == results["cohort"]["n_utterances"] > 0
    # AS-norm of the report, reproduced from the folder's cohort.
    data = results["data_dir"]
    rows = read_manifest(f"{data}/eval.csv", strict=False)
    eval_ids = [r["ID"] for r in rows]
    emb = embed_rows(load_model(run / "pretrained"), rows)
    trials = read_trial_list(
        f"{data}/trials/eval/merged.txt",
        {u: i for i, u in enumerate(eval_ids)},
    )
    scores = score_all(emb, trials.enrol, trials.test, cohort["emb"],
                       results["cohort"]["topk"], eval_ids)  # fmt: skip
    got = verification_metrics(scores["asnorm"], trials.labels)["eer"]
    want = results["lists"]["merged"]["asnorm"]["eer"]
    assert got == pytest.approx(want, abs=0.01)
