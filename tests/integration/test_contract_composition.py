"""Contract of composition: trial lists hold what they claim.

Checked by counting on the lists as written, never by re-running the
generator: each label names whether the two utterances share a speaker,
each category pairs the emotions it names, no trial shares a sentence
(text independence) or repeats a pair, targets and non-targets are
balanced, and at least the asked share of non-targets pairs speakers of
the same gender -- or as many as the split holds, the shortfall being
reported. Lists of the tiny generated corpus and of hand-made rows (other
hard fractions, unknown genders) are checked.
"""

import itertools
import json
import re
from collections import Counter

import pytest
from recipe_utils import TINY, TINY_DATA

from speechbrain_emoinv.config import load_config
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.data.trials import make_trials, read_trials

NEUTRAL = "neutral"
# enrolment and test side of each category
SIDES = {
    "neutral": (lambda e: e == NEUTRAL, lambda e: e == NEUTRAL),
    "cross": (lambda e: e == NEUTRAL, lambda e: e != NEUTRAL),
    "emo_emo": (lambda e: e != NEUTRAL, lambda e: e != NEUTRAL),
    "any": (lambda e: True, lambda e: True),  # lists by corpus
}
CATEGORIES = ("neutral", "cross", "emo_emo")


def _available(rows, category):
    """Distinct text-independent pairs a category can draw from, counted:
    (targets, same-gender non-targets, non-targets)."""
    enrol_ok, test_ok = SIDES[category]
    pairs = set()
    for e, t in itertools.product(rows, rows):
        if e is t or not (enrol_ok(e["emotion"]) and test_ok(t["emotion"])):
            continue
        if e["text_id"] and e["text_id"] == t["text_id"]:
            continue
        pairs.add(tuple(sorted((e["ID"], t["ID"]))))
    by_id = {r["ID"]: r for r in rows}
    tar = sum(by_id[a]["spk_id"] == by_id[b]["spk_id"] for a, b in pairs)
    same_gender = sum(
        by_id[a]["spk_id"] != by_id[b]["spk_id"]
        and by_id[a]["gender"] != ""
        and by_id[a]["gender"] == by_id[b]["gender"]
        for a, b in pairs
    )
    return tar, same_gender, len(pairs) - tar


def check_list(trials, rows, category, n_trials, hard_fraction):
    """Asserts the claims of one list; returns its counts."""
    by_id = {r["ID"]: r for r in rows}
    enrol_ok, test_ok = SIDES[category]
    seen = set()
    n_tar = n_same_gender = 0
    for label, e_id, t_id, e_emo, t_emo in trials:
        where = f"{category}: {label} {e_id} {t_id}"
        assert e_id in by_id and t_id in by_id, f"{where}: not of this list"
        e, t = by_id[e_id], by_id[t_id]
        assert label == int(e["spk_id"] == t["spk_id"]), where
        assert (e_emo, t_emo) == (e["emotion"], t["emotion"]), where
        assert enrol_ok(e_emo) and test_ok(t_emo), where
        assert e_id != t_id, where
        assert not e["text_id"] or e["text_id"] != t["text_id"], where
        pair = tuple(sorted((e_id, t_id)))
        assert pair not in seen, f"{where}: repeated pair"
        seen.add(pair)
        n_tar += label
        n_same_gender += (
            not label and e["gender"] != "" and e["gender"] == t["gender"]
        )
    n_non = len(trials) - n_tar
    avail_tar, avail_same, avail_non = _available(rows, category)
    assert n_tar == n_non <= min(n_trials // 2, avail_tar, avail_non)
    assert n_same_gender >= min(round(hard_fraction * n_non), avail_same)
    return {"targets": n_tar, "same_gender": n_same_gender}


@pytest.fixture(scope="module")
def tiny_prepared():
    """The tiny corpus prepared as the recipe tests prepare it (generated
    when missing; skipped when done)."""
    hparams, _ = load_config(str(TINY), {"data_folder": str(TINY_DATA)})
    hparams["prepare_data"]()
    return TINY_DATA / "prepared", hparams["prepare_data"].keywords


@pytest.mark.parametrize("split", ["valid", "eval"])
def test_prepared_trial_lists_hold_what_they_claim(tiny_prepared, split):
    folder, options = tiny_prepared
    n_trials = options.get("n_trials", 4000)
    hard = options.get("hard_fraction", 0.5)
    rows = read_manifest(folder / f"{split}.csv")
    report = json.loads((folder / "prepare_report.json").read_text())
    short = {
        item["file"]: item["detail"]
        for item in report.get("items", {}).get("trials_short", [])
    }
    lists = {}
    for category in CATEGORIES:
        trials = read_trials(folder / "trials" / split / f"{category}.txt")
        counts = check_list(trials, rows, category, n_trials, hard)
        lists[category] = trials
        got = len(trials)
        assert got <= n_trials
        if got < n_trials:  # a short list is reported with its counts
            detail = short[f"{split}/{category}"]
            numbers = [int(x) for x in re.findall(r"\d+", detail)]
            assert numbers[:3] == [got, n_trials, counts["targets"]], detail
            assert numbers[3] <= counts["same_gender"], detail
    merged = read_trials(folder / "trials" / split / "merged.txt")
    assert Counter(merged) == Counter(sum(lists.values(), []))


def _rows(genders, n_texts=5, emotions=(NEUTRAL, "angry", "sad")):
    """Hand-made manifest rows: every speaker reads every text in every
    emotion."""
    return [
        dict(ID=f"s{k}_{emo}_{t}", spk_id=f"s{k}", emotion=emo,
             text_id=f"t{t}", gender=g)
        for k, g in enumerate(genders)
        for emo in emotions
        for t in range(n_texts)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "genders, hard_fraction",
    [
        ("mmmffff", 0.5),
        ("mmmffff", 0.8),
        ("mmmmffff", 1.0),
        ("mf", 1.0),  # no same-gender impostor exists
        ("", 0.5),  # genders unknown (4 speakers)
    ],
)
def test_generated_lists_hold_what_they_claim(genders, hard_fraction):
    genders = list(genders) or ["", "", "", ""]
    rows = _rows(genders)
    n_trials = 20  # every category of these rows can hold that many
    trials = make_trials(rows, n_trials=n_trials, hard_fraction=hard_fraction)
    for category in CATEGORIES:
        check_list(trials[category], rows, category, n_trials, hard_fraction)
        assert len(trials[category]) == n_trials
    merged = Counter(trials["neutral"] + trials["cross"] + trials["emo_emo"])
    assert Counter(trials["merged"]) == merged


def test_lists_by_corpus_hold_what_they_claim():
    """Lists drawn over named corpora (as the real voices' ``real_read``
    and ``real_acted``): each pairs utterances of its own corpora only,
    and ``merged`` is their union."""
    rows = [
        dict(r, corpus=corpus, ID=f"{corpus}-{r['ID']}",
             spk_id=f"{corpus}-{r['spk_id']}")
        for corpus, genders in (("c1", "mmff"), ("c2", "mf"), ("c3", "mfm"))
        for r in _rows(genders, n_texts=4, emotions=("unknown",))
    ]  # fmt: skip
    lists = {"read": ["c1", "c3"], "acted": ["c2"]}
    trials = make_trials(rows, n_trials=20, hard_fraction=0.5, lists=lists)
    for name, corpora in lists.items():
        mine = [r for r in rows if r["corpus"] in corpora]
        check_list(trials[name], mine, "any", 20, 0.5)
        assert len(trials[name]) == 20, name
    merged = Counter(trials["read"] + trials["acted"])
    assert Counter(trials["merged"]) == merged
