"""Test helper: runs the recipe, and each process writes its parameters
right after training (before the best checkpoint is reloaded), with their
SHA-256, to ``$EMOINV_WEIGHTS_DIR/rank<R>.{pt,sha256}`` (and those it
started from to ``rank<R>_init.pt``).

Only parameters: batch-norm running statistics are per process under DDP
by design (they are used in evaluation mode, never for the gradients).
"""

import hashlib
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import train_speaker_embeddings as recipe  # noqa: E402


def trained_parameters(brain):
    """Name -> parameter of the embedding model and the classifier."""
    state = {}
    for name in ("embedding_model", "classifier"):
        module = brain.modules[name]
        module = getattr(module, "module", module)  # unwrap DDP
        for key, value in module.named_parameters():
            state[f"{name}.{key}"] = value.detach().cpu().clone()
    return state


def main(argv):
    out = Path(os.environ["EMOINV_WEIGHTS_DIR"])
    fit = recipe.EmoInvBrain.fit

    def fit_then_dump(self, *args, **kwargs):
        rank = int(os.environ.get("RANK", 0))
        torch.save(trained_parameters(self), out / f"rank{rank}_init.pt")
        result = fit(self, *args, **kwargs)
        state = trained_parameters(self)
        torch.save(state, out / f"rank{rank}.pt")
        digest = hashlib.sha256()
        for value in state.values():
            digest.update(value.numpy().tobytes())
        (out / f"rank{rank}.sha256").write_text(digest.hexdigest())
        return result

    recipe.EmoInvBrain.fit = fit_then_dump
    recipe.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
