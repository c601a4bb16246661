"""emoinv-embed: manifest-ordered output equal to direct embedding; resume."""

import pytest
import torch
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.cli import embed
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation import embedding as emb_mod
from speechbrain_emoinv.evaluation.embedding import embed_rows
from speechbrain_emoinv.pretrained import load_model


def test_embed_cli_and_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    data = make_toy_data(tmp_path / "d", n_train=0, n_eval=2, n_sentences=2)
    model_dir = make_toy_model(tmp_path / "m")
    args = ["--model", str(model_dir), "--csv", str(data / "eval.csv")]
    args += ["--out", str(tmp_path / "o"), "--batch-size", "1"]
    args += ["--chunk-size", "5", "--no-progress", "--device", "cpu"]
    path = embed.run(args)
    blob = torch.load(path, weights_only=True)
    rows = read_manifest(data / "eval.csv")
    assert blob["ids"] == [r["ID"] for r in rows]
    want = embed_rows(load_model(model_dir, tmp_path / "sv"), rows, 1)
    torch.testing.assert_close(blob["emb"], want)
    assert f"{len(rows)} embeddings of size 16" in capsys.readouterr().out

    # Rerun: every chunk is on disk, nothing is embedded again.
    def fail(*a, **k):
        raise AssertionError("recomputed a finished chunk")

    with monkeypatch.context() as patched:
        patched.setattr(emb_mod, "embed_rows", fail)
        again = torch.load(embed.run(args), weights_only=True)
    torch.testing.assert_close(again["emb"], blob["emb"])

    # Another batch size pads otherwise: its own chunks, never these.
    args[args.index("--batch-size") + 1] = "16"
    batched = torch.load(embed.run(args), weights_only=True)
    want = embed_rows(load_model(model_dir, tmp_path / "sv"), rows, 16)
    torch.testing.assert_close(batched["emb"], want)


def test_embed_cli_missing_model(tmp_path):
    (tmp_path / "m.csv").write_text(
        "ID,wav,start,stop,spk_id,emotion\na,x,0,1,s,n\n"
    )
    with pytest.raises(FileNotFoundError, match="not an exported model"):
        embed.run(
            [
                "--model",
                str(tmp_path / "nope"),
                "--csv",
                str(tmp_path / "m.csv"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
