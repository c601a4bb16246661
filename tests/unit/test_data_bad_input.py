"""Bad input: each case gets a clear error naming the file/row, or a
documented, counted handling listed in prepare_report.json."""

import json

import numpy as np
import pytest
import soundfile as sf
from fake_corpora import make_cremad, make_dusha, tone

from speechbrain_emoinv.data.audio_checks import AudioCheckError, check_audio
from speechbrain_emoinv.data.emotions import UnknownEmotionError
from speechbrain_emoinv.data.manifest import FIELDS, read_manifest
from speechbrain_emoinv.data.prepare_cremad import prepare_cremad
from speechbrain_emoinv.data.prepare_dusha import prepare_dusha
from speechbrain_emoinv.data.trials import read_trials


@pytest.fixture
def cremad_with_bad_files(tmp_path):
    root = tmp_path / "C"
    make_cremad(root)
    aw = root / "AudioWAV"
    (aw / "1001_DFA_NEU_XX.wav").write_bytes(b"")  # 0-byte
    (aw / "1001_IEO_NEU_XX.wav").write_bytes(b"RIFF....WAVEjunkjunk")  # corrupt
    tone(aw / "1002_DFA_NEU_XX.wav", seconds=0.05)  # too short
    sf.write(
        aw / "1002_IEO_NEU_XX.wav", np.zeros(8000, "int16"), 16000
    )  # silent
    x = np.full(4800, np.nan, "float32")
    sf.write(aw / "1003_DFA_NEU_XX.wav", x, 16000, subtype="FLOAT")  # NaN
    tone(aw / "1003_IEO_NEU_XX.wav", channels=2)  # stereo
    tone(aw / "1004_DFA_NEU_XX.wav", sr=44100)  # 44.1 kHz
    tone(aw / "1004_IEO_NEU_XX.wav", sr=48000)  # 48 kHz
    return root


def test_bad_audio_counted_and_listed(cremad_with_bad_files, tmp_path, caplog):
    caplog.set_level("INFO")
    save = prepare_cremad(cremad_with_bad_files, tmp_path / "p")
    report = json.loads((save / "prepare_report.json").read_text())
    counts = report["counts"]
    for issue in ("empty", "unreadable", "too_short", "silent", "non_finite"):
        assert counts[issue] == 1, issue
    assert counts["downmixed"] == 1
    assert counts["resampled"] == 2
    listed = report["items"]["empty"][0]["file"]
    assert listed.endswith("1001_DFA_NEU_XX.wav")
    out = caplog.text
    assert "empty: 1" in out and "1001_DFA_NEU_XX.wav" in out  # logged
    rows = {
        r["ID"]: r
        for s in ("train", "valid", "eval")
        for r in read_manifest(save / f"{s}.csv")
    }
    # 24 files, 5 skipped; none dropped silently.
    assert len(rows) == 24 - 5
    for uid in ("1003_IEO_NEU_XX", "1004_DFA_NEU_XX", "1004_IEO_NEU_XX"):
        r = rows[f"cremad-{uid}"]
        info = sf.info(r["wav"])
        assert r["wav"].startswith(str(save / "converted"))
        assert (info.samplerate, info.channels) == (16000, 1)
        assert int(r["stop"]) == info.frames == 4800
    # The stereo file's channels differ: the copy is their mean.
    stereo, _ = sf.read(
        cremad_with_bad_files / "AudioWAV" / "1003_IEO_NEU_XX.wav"
    )
    assert np.abs(stereo[:, 0] - stereo[:, 1]).max() > 0.05
    mono, _ = sf.read(rows["cremad-1003_IEO_NEU_XX"]["wav"])
    assert np.abs(mono - stereo.mean(axis=1)).max() <= 1 / 32768


def test_bad_audio_error_policy_names_file(cremad_with_bad_files, tmp_path):
    with pytest.raises(AudioCheckError, match=r"1001_DFA_NEU_XX\.wav.*empty"):
        prepare_cremad(
            cremad_with_bad_files, tmp_path / "p", on_bad_audio="error"
        )


def test_missing_file_in_markup_is_counted(tmp_path):
    make_dusha(tmp_path / "D")
    (tmp_path / "D" / "crowd_train" / "wavs" / "trains100.wav").unlink()
    save = prepare_dusha(tmp_path / "D", tmp_path / "p")
    report = json.loads((save / "prepare_report.json").read_text())
    assert report["counts"]["missing"] == 1
    assert report["items"]["missing"][0]["file"].endswith("trains100.wav")


def test_check_audio_known_answers(tmp_path):
    assert check_audio(tmp_path / "nope.wav")["issues"] == ["missing"]
    tone(tmp_path / "ok.wav", seconds=0.5)
    r = check_audio(tmp_path / "ok.wav")
    assert r["issues"] == [] and r["n_samples"] == 8000 and r["duration"] == 0.5
    x = np.zeros(1600, "float32")
    x[5] = np.inf
    sf.write(tmp_path / "inf.wav", x, 16000, subtype="FLOAT")
    assert check_audio(tmp_path / "inf.wav")["issues"] == ["non_finite"]
    tone(tmp_path / "st.wav", channels=2)
    with pytest.raises(AudioCheckError, match="st.wav.*downmixed"):
        check_audio(tmp_path / "st.wav")  # conversion needs a target
    r = check_audio(tmp_path / "st.wav", converted_path=tmp_path / "m.wav")
    assert r["issues"] == ["downmixed"]
    stereo, _ = sf.read(tmp_path / "st.wav")
    mono, _ = sf.read(r["wav"])
    assert np.abs(mono - stereo.mean(axis=1)).max() <= 1 / 32768


def test_unknown_emotion_label(tmp_path):
    make_cremad(tmp_path / "C")
    tone(tmp_path / "C" / "AudioWAV" / "1001_DFA_BOR_XX.wav")
    with pytest.raises(UnknownEmotionError, match="1001_DFA_BOR_XX.wav"):
        prepare_cremad(tmp_path / "C", tmp_path / "p")
    save = prepare_cremad(
        tmp_path / "C", tmp_path / "q", on_unknown_emotion="skip"
    )
    report = json.loads((save / "prepare_report.json").read_text())
    assert report["counts"]["unknown_emotion"] == 1


def test_malformed_rows_name_file_and_line(tmp_path):
    make_dusha(tmp_path / "D")
    mark = tmp_path / "D" / "crowd_train" / "raw_crowd_train.jsonl"
    lines = mark.read_text().splitlines()
    lines[2] = '{"hash_id": "x", broken'
    mark.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"raw_crowd_train.jsonl:3: malformed"):
        prepare_dusha(tmp_path / "D", tmp_path / "p")
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(
        ",".join(FIELDS) + "\n" + "a,0.5,/a.wav,0,8000,s,neutral,,m,en,x,0\n"
        "b,0.5,/b.wav,0,8000\n"
    )
    with pytest.raises(ValueError, match=r"m.csv:3: malformed row"):
        read_manifest(csv_path)
    bad_trials = tmp_path / "t.txt"
    bad_trials.write_text("1 a b neutral sad\n7 a\n")
    with pytest.raises(ValueError, match=r"t.txt:2: malformed"):
        read_trials(bad_trials)
    tone(tmp_path / "C" / "AudioWAV" / "bad_name.wav")
    with pytest.raises(ValueError, match="bad_name.wav"):
        prepare_cremad(tmp_path / "C", tmp_path / "q")


def test_single_emotion_speaker_is_kept_and_listed(tmp_path):
    make_cremad(tmp_path / "C")
    for p in (tmp_path / "C" / "AudioWAV").glob("1004_*"):
        if "_NEU_" not in p.name:
            p.unlink()
    save = prepare_cremad(tmp_path / "C", tmp_path / "p")
    report = json.loads((save / "prepare_report.json").read_text())
    assert report["items"]["single_emotion_speaker"] == [
        {"file": "cremad-1004", "detail": "neutral"}
    ]
    ids = [r["ID"] for s in ("train", "valid", "eval")
           for r in read_manifest(save / f"{s}.csv")]  # fmt: skip
    assert "cremad-1004_DFA_NEU_XX" in ids


def test_duplicate_ids(tmp_path):
    make_dusha(tmp_path / "D")
    # The same hash in both parts is two files claiming one ID.
    test_mark = tmp_path / "D" / "crowd_test" / "raw_crowd_test.tsv"
    lines = test_mark.read_text().splitlines()
    lines[1] = lines[1].replace("tests400", "trains100", 2)
    test_mark.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="trains100 disagrees"):
        prepare_dusha(tmp_path / "D", tmp_path / "p")
    csv_path = tmp_path / "m.csv"
    row = "a,0.5,/a.wav,0,8000,s,neutral,,m,en,x,0\n"
    csv_path.write_text(",".join(FIELDS) + "\n" + row + row)
    with pytest.raises(ValueError, match="duplicate utterance ID 'a'"):
        read_manifest(csv_path)
