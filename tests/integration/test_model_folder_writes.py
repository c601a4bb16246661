"""Which tool writes into an exported model folder, as README's "What each
tool writes" says: ``emoinv-verify``, ``emoinv-eval`` and ``emoinv-embed``
leave the folder as it was, on the PyTorch path and on the ONNX one (the
folder's ``embedding.onnx``, ``--backend auto``); ``emoinv-eval``'s
default output goes beside the folder; ``emoinv-export`` adds its one
format file, or nothing with ``--out`` elsewhere.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.cli import embed, evaluate, verify
from speechbrain_emoinv.cli.export import main as export_main
from speechbrain_emoinv.pretrained import FORMAT_FILES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("writes")
    data = make_toy_data(root / "d", n_train=0, n_eval=2, n_sentences=2)
    return data, make_toy_model(root / "m")


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)


def state(folder):
    """Relative path -> (size, mtime_ns) of everything under ``folder``."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def run_readers(model, data, out):
    """emoinv-verify, -eval and -embed on ``model``, each exiting 0."""
    wavs = sorted(str(w) for w in (data / "wav").glob("*.wav"))[:2]
    common = ["--model", str(model)]
    assert verify.main([*common, *wavs]) == 0
    evaluate_args = [*common, "--data", str(data), "--cohort", "none"]
    evaluate_args += ["--no-plots", "--no-probe", "--out", str(out / "eval")]
    assert evaluate.main(evaluate_args) == 0
    embed_args = [*common, "--csv", str(data / "eval.csv")]
    embed_args += ["--out", str(out / "emb"), "--no-progress"]
    assert embed.main([*embed_args, "--device", "cpu"]) == 0


def test_readers_write_nothing_into_the_model_folder(
    toy, tmp_path, monkeypatch
):
    data, base = toy
    model = tmp_path / "model"
    shutil.copytree(base, model)
    before = state(model)
    run_readers(model, data, tmp_path / "pt")
    assert state(model) == before
    # emoinv-eval without --out: beside the folder, not inside it.
    args = ["--model", str(model), "--data", str(data), "--cohort", "none"]
    assert evaluate.main([*args, "--no-plots", "--no-probe"]) == 0
    assert (tmp_path / "model_eval_eval" / "results.json").is_file()
    assert state(model) == before
    # ... also when the folder is given as "." from inside it.
    shutil.rmtree(tmp_path / "model_eval_eval")
    monkeypatch.chdir(model)
    args[1] = "."
    assert evaluate.main([*args, "--no-plots", "--no-probe"]) == 0
    assert (tmp_path / "model_eval_eval" / "results.json").is_file()
    assert state(model) == before


@pytest.mark.parametrize("fmt", sorted(FORMAT_FILES))
def test_export_adds_only_its_format_file(toy, tmp_path, fmt):
    _, base = toy
    model = tmp_path / "model"
    shutil.copytree(base, model)
    before = state(model)
    # --out elsewhere: the folder is left alone.
    other = tmp_path / "elsewhere" / FORMAT_FILES[fmt]
    other.parent.mkdir()
    args = ["--model", str(model), "--format", fmt]
    assert export_main([*args, "--out", str(other)]) == 0
    assert other.is_file() and state(model) == before
    # Default: one file, the format's, and the rest untouched.
    assert export_main(args) == 0
    after = state(model)
    assert set(after) - set(before) == {FORMAT_FILES[fmt]}
    assert {k: v for k, v in after.items() if k in before} == before


def test_readers_on_the_onnx_path_write_nothing(toy, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    data, base = toy
    model = tmp_path / "model"
    shutil.copytree(base, model)
    assert export_main(["--model", str(model), "--format", "onnx"]) == 0
    before = state(model)
    capsys.readouterr()
    run_readers(model, data, tmp_path / "onnx")
    assert "embedding with PyTorch" not in capsys.readouterr().err
    results = json.loads((tmp_path / "onnx/eval/results.json").read_text())
    assert results["model"]["backend"] == "onnx"  # auto chose the file
    assert state(model) == before


def test_readme_says_which_tool_writes_what():
    """README's paragraph names export's files and no other writer."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    para = readme.split("**What each tool writes.**", 1)[1].split("\n\n")[0]
    para = " ".join(para.split())
    assert "write nothing into it (a read-only folder works)" in para
    one = "**`emoinv-export` is the one tool that writes into the model"
    assert one in para
    for name in FORMAT_FILES.values():
        assert f"`{name}`" in para, name
