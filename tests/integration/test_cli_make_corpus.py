"""emoinv-make-corpus: a small corpus generated and prepared; missing
tools give a one-line error and exit status 2."""

import pytest

from speechbrain_emoinv.cli import make_corpus
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.data.mbrola.corpus import SIZES
from speechbrain_emoinv.data.mbrola.voices import MissingToolError


@pytest.fixture
def small_size(monkeypatch):
    """A corpus size of 6 voices x 2 styles x 2 sentences."""
    monkeypatch.setitem(
        SIZES,
        "test6",
        dict(
            voices=("us1", "de4", "fr1", "de3", "us3", "us2"),
            styles=("neutral", "angry"),
            n_sentences=2,
            vtl_factors=(),
            variation=1.0,
        ),
    )
    return "test6"


def test_generates_and_prepares(small_size, tmp_path, capsys, caplog):
    out, prep = tmp_path / "corpus", tmp_path / "prepared"
    argv = ["--size", small_size, "--out", str(out), "--num-workers", "1"]
    assert make_corpus.main([*argv, "--prepare", str(prep)]) == 0
    printed = capsys.readouterr().out
    assert "[emoinv-make-corpus] done in " in printed and str(out) in printed
    assert len(list(out.glob("wav/*/*.wav"))) == 6 * 2 * 2
    rows = [r for s in ("train", "valid", "eval") for r in read_manifest(
        prep / f"{s}.csv")]  # fmt: skip
    assert len(rows) == 24
    assert {r["emotion"] for r in rows} == {"neutral", "angry"}
    # A second call finds every file valid and generates nothing.
    caplog.set_level("INFO")
    assert make_corpus.main(argv) == 0
    assert "(0 generated, 24 already valid)" in caplog.text


def test_missing_tool_is_one_line(monkeypatch, tmp_path, capsys):
    def missing(*args, **kwargs):
        raise MissingToolError("espeak-ng not found on PATH")

    monkeypatch.setattr(make_corpus, "generate_corpus", missing)
    with pytest.raises(SystemExit, match="^2$"):
        make_corpus.main(["--out", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert err == "emoinv-make-corpus: error: espeak-ng not found on PATH\n"
