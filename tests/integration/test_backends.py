"""The tools' embedding paths: onnxruntime on ``embedding.onnx`` (the
default where it can run) against PyTorch, and the fall-backs of
``--backend auto`` (no file, a stale file, no onnxruntime).

One ONNX export of the toy model serves the module (about 8 s).
"""

import importlib.util
import json
import shutil

import numpy as np
import pytest
import torch
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.cli import embed, evaluate, verify
from speechbrain_emoinv.evaluation import embedding as emb_mod
from speechbrain_emoinv.export.formats import export_format

ATOL = 1e-4  # float32 rounding of the toy model's embeddings


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """(data folder, model folder with embedding.onnx, one without)."""
    root = tmp_path_factory.mktemp("backends")
    data = make_toy_data(root / "d", n_train=2, n_eval=3, n_sentences=2)
    with_onnx = make_toy_model(root / "m", threshold=0.5)
    export_format(with_onnx, "onnx")
    plain = make_toy_model(root / "plain", seed=1)
    return data, with_onnx, plain


def _verify(model, data, tmp_path, *extra):
    trials = tmp_path / "pairs.txt"
    trials.write_text(
        "wav/toy_e0_neutral_0.wav wav/toy_e0_angry_1.wav\n"
        "wav/toy_e1_happy_0.wav wav/toy_e2_neutral_1.wav\n"
        "wav/toy_e2_angry_0.wav wav/toy_e2_happy_1.wav\n"
    )
    args = ["--model", str(model), "--trials", str(trials), "--data", str(data)]
    return verify.run([*args, *extra])


def test_onnx_is_the_default_and_matches_pytorch(toy, tmp_path, capsys):
    data, model, _ = toy
    ref = _verify(model, data, tmp_path, "--backend", "pytorch")
    capsys.readouterr()
    got = _verify(model, data, tmp_path)  # auto
    assert "note" not in capsys.readouterr().err
    assert got == pytest.approx(ref, abs=ATOL)
    assert emb_mod.load_embedder(model).backend == "onnx"

    # emoinv-embed: the same embeddings as PyTorch one by one, recorded as
    # onnx, in chunks of their own (a PyTorch run does not reuse them).
    args = ["--model", str(model), "--csv", str(data / "eval.csv")]
    args += ["--out", str(tmp_path / "e"), "--no-progress", "--device", "cpu"]
    got = torch.load(embed.run(args), weights_only=True)
    want = torch.load(
        embed.run([*args, "--backend", "pytorch", "--batch-size", "1"]),
        weights_only=True,
    )
    assert (got["backend"], want["backend"]) == ("onnx", "pytorch")
    torch.testing.assert_close(got["emb"], want["emb"], atol=ATOL, rtol=0)
    assert len(list((tmp_path / "e" / "chunks").iterdir())) == 2

    # emoinv-eval: the two paths score alike and cache apart.
    scores = {}
    for backend in ("onnx", "pytorch"):
        out = tmp_path / backend
        evaluate.run(
            ["--model", str(model), "--data", str(data), "--out", str(out),
             "--cache-dir", str(tmp_path / "cache"), "--no-plots",
             "--no-probe", "--batch-size", "1", "--backend", backend]
        )  # fmt: skip
        res = json.loads((out / "results.json").read_text())
        assert res["model"]["backend"] == backend
        scores[backend] = np.load(out / "scores.npz")
    assert len(list((tmp_path / "cache").iterdir())) == 2
    keys = [k for k in scores["onnx"].files if k.endswith("/score")]
    assert len(keys) == 4
    for key in keys:
        np.testing.assert_allclose(
            scores["onnx"][key], scores["pytorch"][key], atol=ATOL, rtol=0
        )


def test_auto_falls_back_with_a_note(toy, tmp_path, capsys, monkeypatch):
    data, model, plain = toy
    ref = _verify(plain, data, tmp_path, "--backend", "pytorch")
    capsys.readouterr()

    # No embedding.onnx: PyTorch, and a note saying how to get the file.
    assert _verify(plain, data, tmp_path) == ref
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "emoinv-verify: note:" in err
    assert "emoinv-export --model" in err and "embedding.onnx" in err

    # A file made from another checkpoint is never used.
    stale = tmp_path / "stale"
    shutil.copytree(plain, stale)
    shutil.copy(model / "embedding.onnx", stale / "embedding.onnx")
    assert _verify(stale, data, tmp_path) == ref
    assert "made from another checkpoint or hyperparams.yaml" in (
        capsys.readouterr().err
    )
    wavs = [str(data / "wav" / f"toy_e0_neutral_{i}.wav") for i in (0, 1)]
    status = verify.main(["--model", str(stale), "--backend", "onnx", *wavs])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("emoinv-verify: error: --backend onnx:")

    # No onnxruntime: PyTorch, and a note naming the package.
    want = _verify(model, data, tmp_path, "--backend", "pytorch")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real(name, *a),
    )
    capsys.readouterr()
    assert _verify(model, data, tmp_path) == want
    assert "onnxruntime is not installed" in capsys.readouterr().err


def test_int8_scores_close_to_float(toy, tmp_path):
    """bench_cost's dynamic int8 file, run by the tools as embedding.onnx:
    the same trials score close to the float file's."""
    from benchmarks.bench_cost import quantize_int8

    data, model, _ = toy
    int8 = tmp_path / "int8"
    shutil.copytree(model, int8)
    quantize_int8(model / "embedding.onnx", int8 / "embedding.onnx")
    res = {}
    for name, folder in (("float", model), ("int8", int8)):
        out = tmp_path / name
        evaluate.run(
            ["--model", str(folder), "--data", str(data), "--out", str(out),
             "--no-plots", "--no-probe", "--cohort", "none",
             "--backend", "onnx"]
        )  # fmt: skip
        res[name] = (
            json.loads((out / "results.json").read_text()),
            np.load(out / "scores.npz"),
        )
    (flt, flt_scores), (i8, i8_scores) = res["float"], res["int8"]
    assert i8["model"]["backend"] == "onnx"
    for name, lst in flt["lists"].items():
        key = f"{name}/score"
        assert np.abs(flt_scores[key] - i8_scores[key]).max() < 0.01
        eer = lst["cosine"]["eer"], i8["lists"][name]["cosine"]["eer"]
        assert eer[1] == pytest.approx(eer[0], abs=0.2)
