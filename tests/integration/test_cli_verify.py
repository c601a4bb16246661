"""emoinv-verify: stored threshold, agreement with SpeechBrain, batch mode."""

import numpy as np
import pytest
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.cli import verify
from speechbrain_emoinv.pretrained import load_model


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    data = make_toy_data(root / "d", n_train=0, n_eval=2, n_sentences=2)
    return data, root


def test_pair_uses_stored_threshold(toy, capsys):
    data, root = toy
    a = data / "wav" / "toy_e0_neutral_0.wav"
    b = data / "wav" / "toy_e1_angry_1.wav"
    model = load_model(make_toy_model(root / "m0"), root / "sv0")
    ref, _ = model.verify_files(str(a), str(b))
    ref = float(ref)
    # Thresholds either side of the score flip the decision.
    for thr, word in ((ref - 0.01, "same"), (ref + 0.01, "different")):
        folder = make_toy_model(root / f"m{thr}", threshold=thr)
        scores = verify.run(["--model", str(folder), str(a), str(b)])
        out = capsys.readouterr().out
        assert scores[0] == pytest.approx(ref, abs=1e-5)
        assert f"# threshold {thr:g} (stored)" in out
        assert out.strip().endswith(word)
    scores = verify.run(
        ["--model", str(folder), str(a), str(b), "--threshold", "-1"]
    )
    assert capsys.readouterr().out.strip().endswith("same")


def test_batch_modes(toy, tmp_path, capsys):
    data, root = toy
    folder = make_toy_model(root / "mb", threshold=0.5)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(
        "wav/toy_e0_neutral_0.wav wav/toy_e0_angry_1.wav\n"
        "# comment\n"
        "wav/toy_e0_neutral_0.wav wav/toy_e1_neutral_1.wav\n"
    )
    s1 = verify.run(
        ["--model", str(folder), "--trials", str(pairs), "--data", str(data)]
    )
    out = capsys.readouterr().out.splitlines()
    assert len(s1) == 2 and len(out) == 3
    ids = tmp_path / "ids.txt"
    ids.write_text(
        "1 toy_e0_neutral_0 toy_e0_angry_1 neutral angry\n"
        "0 toy_e0_neutral_0 toy_e1_neutral_1 neutral neutral\n"
    )
    s2 = verify.run(
        ["--model", str(folder), "--trials", str(ids), "--data", str(data)]
    )
    out = capsys.readouterr().out
    assert s2 == pytest.approx(s1, abs=1e-6)
    assert "label=1" in out and "# accuracy at threshold" in out
    # accuracy = share of decisions (score > threshold) equal to the labels;
    # a threshold between the two scores makes it 0 or 100 %, not 50 %
    assert s2[0] != pytest.approx(s2[1], abs=1e-3), s2
    for thr in (0.5, float(np.mean(s2))):
        verify.run(
            ["--model", str(folder), "--trials", str(ids), "--data", str(data)]
            + ["--threshold", repr(thr)]
        )
        acc = np.mean((np.array(s2) > thr) == np.array([True, False]))
        printed = f"# accuracy at threshold: {100 * acc:.2f} % of 2"
        assert printed in capsys.readouterr().out


def test_bad_input(toy, tmp_path, capsys):
    data, root = toy
    folder = make_toy_model(root / "mx")
    t = tmp_path / "t.txt"
    t.write_text("1 toy_e0_neutral_0 nobody\n")
    with pytest.raises(ValueError, match="t.txt:1: unknown utterance 'nobody'"):
        verify.run(
            ["--model", str(folder), "--trials", str(t), "--data", str(data)]
        )
    t.write_text("a.wav missing.wav\n")
    with pytest.raises(FileNotFoundError, match="t.txt:1"):
        verify.run(["--model", str(folder), "--trials", str(t)])
    t.write_text("")
    with pytest.raises(ValueError, match="empty trial list"):
        verify.run(["--model", str(folder), "--trials", str(t)])
    with pytest.raises(SystemExit, match="^2$"):
        verify.run(["--model", str(folder), "only_one.wav"])
    assert "give two WAV files or --trials FILE" in capsys.readouterr().err
