"""prepare_<corpus> on fake directory trees: manifests checked row by row."""

import json
import re

import pytest
import soundfile as sf
from fake_corpora import (
    make_cremad,
    make_dusha,
    make_esd,
    make_iemocap,
    make_ravdess,
    make_voxceleb,
)

from speechbrain_emoinv.data.manifest import FIELDS, read_manifest
from speechbrain_emoinv.data.prepare_cremad import prepare_cremad
from speechbrain_emoinv.data.prepare_dusha import prepare_dusha
from speechbrain_emoinv.data.prepare_esd import prepare_esd
from speechbrain_emoinv.data.prepare_iemocap import prepare_iemocap
from speechbrain_emoinv.data.prepare_ravdess import prepare_ravdess
from speechbrain_emoinv.data.prepare_voxceleb import prepare_voxceleb
from speechbrain_emoinv.data.trials import read_trials

SPLITS = ("train", "valid", "eval")


def _load(save):
    rows, split = {}, {}
    for s in SPLITS:
        assert (save / f"{s}.csv").read_text().splitlines()[0] == ",".join(
            FIELDS
        )
        for r in read_manifest(save / f"{s}.csv"):
            rows[r["ID"]] = r
            split[r["spk_id"]] = split.get(r["spk_id"], s)
            assert split[r["spk_id"]] == s, "speaker in two splits"
        listed = set((save / f"{s}_speakers.txt").read_text().split())
        assert {k for k, v in split.items() if v == s} <= listed
    for s in ("valid", "eval"):
        # Every written list has trials; an empty category gets no file
        # (counted as trials_short in the report).
        for cat in ("neutral", "cross", "emo_emo", "merged"):
            path = save / "trials" / s / f"{cat}.txt"
            assert not path.exists() or path.read_text().strip()
    report = json.loads((save / "prepare_report.json").read_text())
    return rows, split, report


def _check_rows(rows, expected):
    assert sorted(rows) == sorted(e["ID"] for e in expected)
    for exp in expected:
        row = rows[exp["ID"]]
        for key, val in exp.items():
            assert row[key] == val, (exp["ID"], key, row[key], val)
        assert row["start"] == 0 and row["simulated"] == "0"
        info = sf.info(row["wav"])
        assert (info.samplerate, info.channels) == (16000, 1)
        assert int(row["stop"]) == info.frames
        assert float(row["duration"]) == pytest.approx(info.frames / 16000)


def test_esd(tmp_path):
    exp = make_esd(tmp_path / "ESD")
    (tmp_path / "ESD" / "spk21" / "Happy").mkdir(parents=True)  # not ESD's
    save = prepare_esd(tmp_path / "ESD", tmp_path / "p",
                       speaker_genders={"0011": "f"}, eval_speakers=["esd-0011", "esd-0013"],
                       valid_speakers=["esd-0012"])  # fmt: skip
    rows, split, report = _load(save)
    _check_rows(rows, exp)
    assert report["counts"]["not_speaker_folder"] == 1  # said, not dropped
    assert rows["esd-0011_000351"]["gender"] == "f"
    assert rows["esd-0012_000351"]["gender"] == ""
    assert split == {"esd-0011": "eval", "esd-0012": "valid",
                     "esd-0013": "eval", "esd-0001": "train"}  # fmt: skip
    # 2 sentences, so cross trials pair sentence 1 with sentence 2 only.
    tr = read_trials(save / "trials" / "eval" / "cross.txt")
    assert tr and all(
        rows[e]["text_id"] != rows[t]["text_id"] for _, e, t, *_ in tr
    )


def test_cremad(tmp_path):
    exp = make_cremad(tmp_path / "C")
    save = prepare_cremad(tmp_path / "C", tmp_path / "p", seed=3)
    rows, split, report = _load(save)
    _check_rows(rows, exp)
    assert sorted(split.values()) == ["eval", "train", "train", "valid"]
    report["counts"].pop("trials_short", None)  # tiny fake corpus
    assert report["counts"] == {}


def test_ravdess_resampled_copies_and_song_counted(tmp_path):
    exp = make_ravdess(tmp_path / "R")
    save = prepare_ravdess(tmp_path / "R", tmp_path / "p")
    rows, _, report = _load(save)
    _check_rows(rows, exp)
    report["counts"].pop("trials_short", None)
    assert report["counts"] == {"not_speech": 1, "resampled": 24}
    assert all(
        r["wav"].startswith(str(save / "converted")) for r in rows.values()
    )
    # calm (02) folded into neutral
    assert rows["ravdess-03-01-02-01-01-01-01"]["emotion"] == "neutral"


def test_dusha_rows_folded_tsv_and_official_eval(tmp_path):
    exp = make_dusha(tmp_path / "D")
    save = prepare_dusha(tmp_path / "D", tmp_path / "p")
    rows, split, report = _load(save)
    _check_rows(rows, exp)
    assert report["info"]["rows_folded"] == len(exp)  # two rows per file
    assert {k for k, v in split.items() if v == "eval"} == {
        "dusha-s4",
        "dusha-s5",
    }
    # same sentence, same text_id; other sentence, other id
    a, b, c = (
        rows["dusha-trains100"],
        rows["dusha-trains200"],
        rows["dusha-trains101"],
    )
    assert a["text_id"] == b["text_id"] != c["text_id"]
    tr = read_trials(save / "trials" / "eval" / "merged.txt")
    assert [t[0] for t in tr].count(1) == [t[0] for t in tr].count(0) > 0


def test_dusha_missing_part_empty_text_and_bad_id_named(tmp_path):
    """A Dusha part that is not there is an error (it made the eval split
    a random share of crowd_train speakers); a row without text gets an
    empty (unknown) text_id, not one shared by every such row; a bad
    hash_id names its markup row."""
    make_dusha(tmp_path / "D", tsv_test=False)
    with pytest.raises(FileNotFoundError, match="crowd_tset: no such"):
        prepare_dusha(tmp_path / "D", tmp_path / "p",
                      parts=("crowd_train", "crowd_tset"))  # fmt: skip
    markup = tmp_path / "D" / "crowd_train" / "raw_crowd_train.jsonl"
    text = markup.read_text()
    markup.write_text(
        re.sub(r'"speaker_text": "[^"]*"', '"speaker_text": ""', text)
    )
    rows, _, _ = _load(prepare_dusha(tmp_path / "D", tmp_path / "p"))
    train = [r for r in rows.values() if r["ID"].startswith("dusha-train")]
    assert train and {r["text_id"] for r in train} == {""}
    markup.write_text(
        text.replace('"hash_id": "trains100"', '"hash_id": "a b"')
    )
    with pytest.raises(
        ValueError, match=r"raw_crowd_train.jsonl:\d+: utterance ID"
    ):
        prepare_dusha(tmp_path / "D", tmp_path / "q")


def test_iemocap_sessions_and_labels(tmp_path):
    exp = make_iemocap(tmp_path / "I")
    save = prepare_iemocap(tmp_path / "I", tmp_path / "p")
    rows, split, _ = _load(save)
    _check_rows(rows, exp)
    assert split["iemocap-Ses05F"] == split["iemocap-Ses05M"] == "eval"
    assert split["iemocap-Ses04F"] == split["iemocap-Ses04M"] == "valid"
    assert split["iemocap-Ses01M"] == "train"


def test_voxceleb_official_trials(tmp_path):
    exp = make_voxceleb(tmp_path / "V")
    save = prepare_voxceleb(tmp_path / "V", tmp_path / "p",
                            meta_files=[tmp_path / "V" / "vox1_meta.csv"])  # fmt: skip
    rows, split, report = _load(save)
    _check_rows(rows, exp)
    assert "no_official_trial_list" not in report["counts"]
    assert "single_emotion_speaker" not in report["counts"]  # no labels
    assert {k for k, v in split.items() if v == "eval"} == {
        "vox-id10004",
        "vox-id10005",
    }
    merged = (save / "trials" / "eval" / "merged.txt").read_text().splitlines()
    assert merged == [
        "1 id10004--vidA--00001 id10004--vidB--00002 unknown unknown",
        "0 id10004--vidA--00001 id10005--vidA--00001 unknown unknown",
        "1 id10005--vidA--00002 id10005--vidB--00001 unknown unknown",
    ]
    assert not (save / "trials" / "eval" / "cross.txt").exists()


def test_voxceleb_without_official_list_says_so(tmp_path):
    make_voxceleb(tmp_path / "V")
    (tmp_path / "V" / "veri_test2.txt").unlink()
    save = prepare_voxceleb(tmp_path / "V", tmp_path / "p")
    _, _, report = _load(save)
    assert report["counts"]["no_official_trial_list"] == 1


def test_voxceleb_every_root_must_hold_wav(tmp_path):
    make_voxceleb(tmp_path / "V")
    with pytest.raises(FileNotFoundError, match="V2/wav: no VoxCeleb"):
        prepare_voxceleb([tmp_path / "V", tmp_path / "V2"], tmp_path / "p")


def test_skip_when_done_and_rerun_on_new_options(tmp_path):
    make_cremad(tmp_path / "C")
    save = prepare_cremad(tmp_path / "C", tmp_path / "p")
    stamp = (save / "train.csv").stat().st_mtime_ns
    prepare_cremad(tmp_path / "C", tmp_path / "p")
    assert (save / "train.csv").stat().st_mtime_ns == stamp
    prepare_cremad(tmp_path / "C", tmp_path / "p", seed=99)
    assert (save / "train.csv").stat().st_mtime_ns != stamp


def test_rewrite_cut_short_is_not_taken_for_done(tmp_path, monkeypatch):
    """A re-prepare with other options killed before its end leaves a
    folder that the earlier options prepare again (it held the new
    split under the old options record)."""
    import speechbrain_emoinv.data.trials as trials

    make_cremad(tmp_path / "C")
    save = prepare_cremad(tmp_path / "C", tmp_path / "p")
    first = (save / "eval_speakers.txt").read_text()

    def killed(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(trials, "write_trials", killed)
        with pytest.raises(KeyboardInterrupt):
            prepare_cremad(tmp_path / "C", tmp_path / "p", seed=99)
    assert (save / "eval_speakers.txt").read_text() != first
    prepare_cremad(tmp_path / "C", tmp_path / "p")
    assert (save / "eval_speakers.txt").read_text() == first


def test_joint_validation_weighs_each_corpus_alike(tmp_path, monkeypatch):
    """Stage 2's validation: as many trials of each corpus (the longer list
    thinned evenly), and exactly the utterances those trials use."""
    from speechbrain_emoinv.data import prepare_pretrain as pretrain
    from speechbrain_emoinv.data.manifest import write_manifest
    from speechbrain_emoinv.data.prepare_pretrain import write_joint_validation

    folders = []
    for name, n_trials in (("real", 6), ("sim", 18)):
        folder = tmp_path / name
        (folder / "trials" / "valid").mkdir(parents=True)
        rows = [
            dict(
                dict.fromkeys(FIELDS, ""),
                ID=f"{name}{i}",
                duration=1.0,
                wav=f"/x/{name}{i}.wav",
                start=0,
                stop=16000,
                spk_id=f"{name}-s{i % 3}",
                emotion="neutral",
                simulated=int(name == "sim"),
            )
            for i in range(12)
        ]
        write_manifest(rows, folder / "valid.csv")
        lines = [
            f"{k % 2} {name}{k % 4} {name}{4 + k % 5}" for k in range(n_trials)
        ]
        (folder / "trials" / "valid" / "merged.txt").write_text(
            "\n".join(lines) + "\n"
        )
        folders.append(folder)
    n = write_joint_validation(tmp_path / "v.csv", tmp_path / "t.txt", folders)
    trials = read_trials(tmp_path / "t.txt")
    per_corpus = {
        c: sum(t[1].startswith(c) for t in trials) for c in ("real", "sim")
    }
    assert n == 6 and per_corpus == {"real": 6, "sim": 6}
    sim = [t for t in trials if t[1].startswith("sim")]
    # evenly thinned: first and last of the 18 kept, in order
    assert sim[0][1:3] == ("sim0", "sim4") and sim[-1][1:3] == ("sim1", "sim6")
    used = {u for t in trials for u in t[1:3]}
    assert {r["ID"] for r in read_manifest(tmp_path / "v.csv")} == used
    # The main run's stage-2 preparation: both corpora (no training list),
    # then this joint validation of the real and the simulated folder.
    calls = []
    monkeypatch.setattr(
        pretrain, "prepare_pretrain", lambda *a, **kw: calls.append((a, kw))
    )
    rest = dict(real_valid_speakers=["r1"], real_sources=["klettres"])
    out = tmp_path / "v2.csv", tmp_path / "t2.txt"
    assert pretrain.prepare_finetune(*out, *folders, **rest) == 6
    real, sim = folders
    want = dict(sim_styles="all", real_folder=real, sim_folder=sim, **rest)
    assert calls == [((None,), want)]
    assert out[1].read_text() == (tmp_path / "t.txt").read_text()
