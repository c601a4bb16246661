"""Deployment: model card, TorchScript / ONNX parity, onnxruntime example.

Parity tolerance: 1e-4 absolute on the embedding (float32; the measured
difference is ~1e-6 for ONNX and 0 for TorchScript).
"""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from toy import make_toy_model

from speechbrain_emoinv.cli.export import main as export_main
from speechbrain_emoinv.export.model_card import (
    render_model_card,
    write_model_card,
)
from speechbrain_emoinv.pretrained import (
    file_fingerprint,
    load_model,
    model_fingerprint,
)

ATOL = 1e-4
ROOT = Path(__file__).resolve().parents[2]


def code_block(markdown):
    """The onnxruntime example (``import numpy, onnxruntime, ...``)."""
    return re.search(
        r"```python\n(import numpy, onnxruntime.*?)```", markdown, re.S
    ).group(1)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_model(tmp_path_factory.mktemp("toy") / "model")


def _pytorch_embedding(model_dir, wav):
    model = load_model(model_dir)
    with torch.no_grad():
        return model.encode_batch(torch.from_numpy(wav)[None]).squeeze(1)


def test_card_header_table_and_citations(toy):
    cosine = {"eer": 12.5, "min_dcf@0.01": 0.9, "act_dcf@0.01": 15.0,
              "act_dcf_bayes@0.01": 1.25, "cllr": 0.71, "p_miss": 0.125,
              "p_fa": 0.1}  # fmt: skip
    results = {
        "split": "eval",
        "data_dir": "/data/prepared",
        "model": {"backend": "pytorch"},
        "cohort": {"split": None, "n_utterances": 0, "topk": None},
        "lists": {
            "merged": {"n_trials": 40, "cosine": cosine},
            "neutral": {"n_trials": 20, "cosine": dict(cosine, eer=3.0)},
        },
    }
    card = write_model_card(
        toy, {"datasets": ["voxceleb", "ravdess"]}, [results]
    ).read_text()
    head = yaml.safe_load(card.split("---\n")[1])
    assert head["library_name"] == "speechbrain"
    # Two corpora with different licences: "other", each named below.
    assert head["license"] == "other"
    assert head["datasets"] == ["VoxCeleb", "RAVDESS"]
    assert "speaker-verification" in head["tags"] and "eer" in head["metrics"]
    assert "- RAVDESS: CC BY-NC-SA 4.0" in card
    rows = [ln for ln in card.splitlines() if ln.startswith("| ")]
    # actual DCF at the calibration's Bayes threshold, not at the stored
    # (EER) threshold; rates at the stored threshold in percent.
    assert rows[1:] == [
        "| neutral | cosine | 20 | 3.00 | 0.900 | 1.250 | 0.710 | 12.50 | 10.00 |",
        "| merged | cosine | 40 | 12.50 | 0.900 | 1.250 | 0.710 | 12.50 | 10.00 |",
    ]
    # No local path of the machine that evaluated it; readable headings;
    # the backend that made the table, which reproduces it.
    lead = "`data/prepared` (`pytorch` backend):"
    assert "/data/prepared" not in card and lead in card
    # Each table names its own cohort, where AS-norm rows are in it: a
    # second evaluation (the real voices') has its own lead and table.
    assert "AS-norm against" not in card
    results["lists"]["merged"]["asnorm"] = cosine
    results["cohort"] = {"split": "train", "n_utterances": 50, "topk": 20}
    real = dict(
        results,
        data_dir="/x/real/prepared",
        model={"backend": "onnx"},
        cohort={"split": "train", "n_utterances": 7, "topk": 5},
        lists={"real_read": {"n_trials": 8, "cosine": dict(cosine, eer=7.0)}},
    )
    card = write_model_card(toy, {}, [results, real]).read_text()
    first, second = card.split("`data/prepared` (")[1].split(
        "`real/prepared` ("
    )
    assert first.startswith("`pytorch` backend; AS-norm against 50 ")
    assert "| merged | asnorm |" in first
    assert second.startswith(
        "`onnx` backend; AS-norm against 7 utterances of its `train` split):"
    )
    assert "| real_read | cosine | 8 | 7.00 |" in second
    cal = {"score_calibration": {"scale": 5.29, "offset": -2.369}}
    card = render_model_card(meta=cal)
    assert "`llr = 5.29 * score - 2.369`" in card
    card = write_model_card(
        toy, {"valid_eer": "9.50 %", "config": "emoinv.yaml"}, [results]
    ).read_text()
    assert "## Validation EER" in card and "## Training configuration" in card
    assert "eprint = {2505.18498}" in card and "SpeechBrain" in card
    assert "Load trusted model folders only" in card
    card = write_model_card(toy, {"datasets": ["ravdess"]}).read_text()
    assert "license: cc-by-nc-sa-4.0" in card and "Not evaluated yet" in card


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_format_matches_pytorch(toy, tmp_path, fmt, capsys):
    assert export_main(["--model", str(toy), "--format", fmt]) == 0
    path = capsys.readouterr().out.split("\t")[0]
    assert file_fingerprint(path) == model_fingerprint(toy)
    wav = (0.1 * np.random.default_rng(3).standard_normal(27_000)).astype(
        "float32"
    )
    want = _pytorch_embedding(toy, wav)
    if fmt == "torchscript":
        got = torch.jit.load(path)(torch.from_numpy(wav)[None])
    else:
        # The model card's onnxruntime example, run as written.
        sf.write(tmp_path / "a.wav", wav, 16000, subtype="FLOAT")
        card = (toy / "README.md").read_text()
        code = code_block(card).replace('"embedding.onnx"', repr(path))
        code = code.replace('"a.wav"', repr(str(tmp_path / "a.wav")))
        scope = {}
        exec(code, scope)
        got = torch.from_numpy(scope["emb"])
        # It refuses what it does not handle (another rate, < 0.1 s).
        for name, x, rate, words in (
            ("8k", wav, 8000, "8000 Hz, not 16000"),
            ("short", wav[:1000], 16000, "too short"),
        ):
            sf.write(tmp_path / f"{name}.wav", x, rate, subtype="FLOAT")
            with pytest.raises(ValueError, match=words):
                scope["embed"](tmp_path / f"{name}.wav")
        # docs/deployment.md shows the card's example as the card writes it
        doc = (ROOT / "docs" / "deployment.md").read_text()
        assert code_block(doc) == code_block(card)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_export_cli_errors_are_one_line(tmp_path, capsys):
    assert export_main(["--model", str(tmp_path), "--format", "onnx"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("emoinv-export: error:")
    assert "hyperparams.yaml" in err
