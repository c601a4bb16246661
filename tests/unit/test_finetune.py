"""Fine-tuning starts from SpeechBrain's Pretrainer sources, offline."""

import socket

import pytest
import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
from speechbrain.utils.fetching import FetchConfig

from speechbrain_emoinv.export.folder import export_pretrained
from speechbrain_emoinv.finetune import (
    CKPT_FILE,
    checkpoint_source,
    load_embedding_weights,
)

KW = dict(
    input_size=20,
    channels=[16, 16, 16, 16, 48],
    attention_channels=8,
    lin_neurons=8,
)


@pytest.fixture
def exported(tmp_path, monkeypatch):
    """An exported folder of a seeded model; any network use fails."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    torch.manual_seed(0)
    model = ECAPA_TDNN(**KW)
    folder = export_pretrained(tmp_path / "src", model, KW, n_mels=20)
    return model, folder


@pytest.mark.parametrize("as_file", [False, True])
def test_loads_local_folder_or_file(exported, tmp_path, as_file):
    src, folder = exported
    source = folder / "embedding_model.ckpt" if as_file else folder
    torch.manual_seed(1)
    dst = ECAPA_TDNN(**KW)
    load_embedding_weights(
        dst, str(source), tmp_path / "init", FetchConfig(allow_network=False)
    )
    for (name, a), b in zip(
        src.state_dict().items(), dst.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # The Pretrainer collected the file where the recipe keeps it.
    assert (tmp_path / "init" / "embedding_model.ckpt").exists()


def test_other_architecture_is_an_error(exported, tmp_path):
    _, folder = exported
    # Same shapes for most layers but one block fewer: SpeechBrain's
    # default (non-strict) hook would only warn about missing keys.
    small = ECAPA_TDNN(**dict(KW, channels=[16, 16, 16, 48],
                              kernel_sizes=[5, 3, 3, 1],
                              dilations=[1, 2, 3, 1]))  # fmt: skip
    with pytest.raises(ValueError, match="does not fit .* Unexpected key"):
        load_embedding_weights(small, str(folder), tmp_path / "init")
    wide = ECAPA_TDNN(**dict(KW, channels=[32, 32, 32, 32, 96]))
    with pytest.raises(ValueError, match=r"size mismatch for blocks\.0"):
        load_embedding_weights(wide, str(folder), tmp_path / "init2")


def test_missing_sources_name_the_path(tmp_path):
    model = ECAPA_TDNN(**KW)
    with pytest.raises(FileNotFoundError, match="no embedding_model.ckpt"):
        load_embedding_weights(model, str(tmp_path), tmp_path / "init")
    with pytest.raises(FileNotFoundError, match="not a hub id"):
        load_embedding_weights(model, "results/x/pretrained", tmp_path / "i")


def test_missing_local_path_never_taken_for_a_hub_id(tmp_path, monkeypatch):
    """``pretrained/ecapa`` with a ``pretrained/`` folder here is a mistyped
    path; with HF_HUB_OFFLINE set no hub id is tried either."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pretrained").mkdir()
    with pytest.raises(FileNotFoundError, match="taken as a local path"):
        checkpoint_source("pretrained/ecapa")
    assert checkpoint_source("owner/model") == f"owner/model/{CKPT_FILE}"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE is set"):
        checkpoint_source("owner/model")
