"""Export: the folder loads network-free and reproduces the embeddings."""

import socket

import pytest
import torch
from speechbrain.inference.speaker import SpeakerRecognition
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
from speechbrain.processing.features import InputNormalization
from speechbrain.utils.fetching import FetchConfig
from toy import TINY_ECAPA

from speechbrain_emoinv.export.folder import export_pretrained
from speechbrain_emoinv.pretrained import model_fingerprint, read_metadata

KW = dict(TINY_ECAPA, input_size=40)


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _source(seed=0):
    torch.manual_seed(seed)
    model = ECAPA_TDNN(**KW).eval()
    # Non-trivial BatchNorm statistics, so a missing buffer would show.
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return model


def test_export_roundtrip_network_free(tmp_path, no_network):
    model = _source()
    out = export_pretrained(
        tmp_path / "model",
        model,
        KW,
        n_mels=40,
        threshold=0.42,
        model_card={
            "datasets": ["mbrola"],
            "data": "toy",
            "metrics": {"EER": 12.5},
        },
        extra={"corpus": "toy", "epochs": 3},
    )
    state = torch.load(out / "embedding_model.ckpt", weights_only=True)
    assert set(state) == set(model.state_dict())

    rec = SpeakerRecognition.from_hparams(
        source=str(out),
        savedir=str(tmp_path / "cache"),
        fetch_config=FetchConfig(allow_network=False),
    )
    torch.manual_seed(1)
    wavs = torch.randn(2, 16000) * 0.1
    lens = torch.tensor([1.0, 0.7])
    got = rec.encode_batch(wavs, lens).squeeze(1)
    with torch.no_grad():
        feats = Fbank(n_mels=40)(wavs)
        feats = InputNormalization(norm_type="sentence", std_norm=False)(
            feats, lens
        )
        want = model(feats, lens).squeeze(1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)

    meta = read_metadata(out)
    assert meta["verification_threshold"] == 0.42
    assert meta["corpus"] == "toy" and meta["sample_rate"] == 16000
    card = (out / "README.md").read_text()
    assert "| EER | 12.5 |" in card and "non-commercial" in card
    assert (
        "paths"
        not in (out / "hyperparams.yaml").read_text().split("pretrainer")[1]
    )


def test_export_rejects_mismatched_kwargs(tmp_path):
    model = _source()
    bad = dict(KW, lin_neurons=8)
    with pytest.raises(ValueError, match="do not rebuild"):
        export_pretrained(tmp_path / "m", model, bad, n_mels=40)
    with pytest.raises(ValueError, match="n_mels"):
        export_pretrained(tmp_path / "m", model, KW, n_mels=80)
    with pytest.raises(ValueError, match="reserved"):
        export_pretrained(
            tmp_path / "m", model, KW, n_mels=40, extra={"modules": 1}
        )


def test_fingerprint_changes_with_weights(tmp_path):
    a = export_pretrained(tmp_path / "a", _source(0), KW, n_mels=40)
    b = export_pretrained(tmp_path / "b", _source(1), KW, n_mels=40)
    c = export_pretrained(tmp_path / "c", _source(0), KW, n_mels=40)
    assert model_fingerprint(a) != model_fingerprint(b)
    assert model_fingerprint(a) == model_fingerprint(c)
    assert read_metadata(a)["verification_threshold"] is None


@pytest.mark.parametrize("batch_size", [16, 3])
def test_stored_cohort_is_the_evaluations_cached_one(
    tmp_path, monkeypatch, batch_size
):
    """The recipe stores the cohort embeddings its evaluation scored with
    (read from run_evaluation's cache, not embedded again), whatever batch
    size the evaluation ran at."""
    from toy import make_toy_data, make_toy_model

    from speechbrain_emoinv import stages
    from speechbrain_emoinv.evaluation import run_evaluation

    data = make_toy_data(tmp_path / "d", n_eval=2, n_sentences=2)
    model = make_toy_model(tmp_path / "m")
    eval_folder = tmp_path / "eval"
    run_evaluation(
        model,
        data,
        eval_folder,
        plots=False,
        batch_size=batch_size,
        log=lambda *a: None,
    )

    def fail(*args, **kwargs):
        raise AssertionError("the cohort was embedded again")

    monkeypatch.setattr(stages, "embed_rows", fail)
    stages.export_cohort(model, eval_folder, "cpu", batch_size)
    stored = torch.load(model / "cohort_embeddings.pt", weights_only=True)
    assert 0 < len(stored["ids"]) == stored["emb"].shape[0]
