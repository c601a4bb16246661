"""A save interrupted between the meta file and the parameter files."""

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_emoinv.checkpoints import AtomicCheckpointer


class Crashes(torch.nn.Module):
    """A recoverable whose save dies half-way, like a SIGKILL would."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))
        self.crash = False

    def state_dict(self, *args, **kwargs):
        if self.crash:
            raise KeyboardInterrupt("killed while saving")
        return super().state_dict(*args, **kwargs)


@pytest.mark.parametrize("cls", [AtomicCheckpointer, Checkpointer])
def test_interrupted_save_is_not_recovered(cls, tmp_path):
    model = torch.nn.Linear(2, 2)
    late = Crashes()
    ckpter = cls(tmp_path, recoverables={"model": model, "z_late": late})
    good = ckpter.save_checkpoint(meta={"step": 1})
    late.crash = True
    with pytest.raises(KeyboardInterrupt, match="killed while saving"):
        ckpter.save_checkpoint(meta={"step": 2})
    found = ckpter.find_checkpoint(max_key="step")
    if cls is AtomicCheckpointer:
        # The interrupted folder is not a checkpoint: resume from step 1.
        assert found.path == good.path
        assert ckpter.recover_if_possible(max_key="step").meta["step"] == 1
    else:
        # SpeechBrain 1.1.2 wrote CKPT.yaml first: the broken folder is
        # taken as the latest checkpoint and its z_late file is missing.
        assert found.meta["step"] == 2
        assert not (found.path / "z_late.ckpt").exists()
