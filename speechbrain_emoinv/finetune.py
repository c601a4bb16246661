"""Start training from a SpeechBrain speaker model that lies on disk.

The method's own flow is pretraining on a large neutral corpus (VoxCeleb),
then emotional fine-tuning; most users start from an ECAPA-TDNN folder they
already have (an exported speechbrain-emoinv model, or SpeechBrain's
``spkrec-ecapa-voxceleb`` downloaded earlier). Only the embedding model is
taken: the speaker classifier depends on the training speakers.

Authors
 * speechbrain-emoinv contributors 2026
"""

import os

import torch


def _checkpoint_path(path):
    if os.path.isdir(path):
        path = os.path.join(path, "embedding_model.ckpt")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No embedding model checkpoint at {path}: give a SpeechBrain "
            "pretrained folder holding embedding_model.ckpt, or the file."
        )
    return path


def load_embedding_weights(model, path):
    """Loads ``embedding_model.ckpt`` into ``model``, checking every layer.

    Unlike ``load_state_dict``'s bulk report, a mismatch names the first
    layer concerned with both shapes, so a user sees at once that, e.g., the
    folder holds a C = 1024 model and the config asks for C = 512.

    Arguments
    ---------
    model : torch.nn.Module
        The freshly built embedding model.
    path : str
        A pretrained folder (containing ``embedding_model.ckpt``) or the
        checkpoint file itself.

    Returns
    -------
    path : str
        The checkpoint file that was loaded.

    Example
    -------
    >>> import tempfile
    >>> src, dst = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    >>> folder = tempfile.mkdtemp()
    >>> ckpt = os.path.join(folder, "embedding_model.ckpt")
    >>> torch.save(src.state_dict(), ckpt)
    >>> _ = load_embedding_weights(dst, folder)
    >>> torch.equal(src.weight, dst.weight)
    True
    >>> load_embedding_weights(torch.nn.Linear(3, 2), folder)
    Traceback (most recent call last):
    ...
    ValueError: ...layer 'weight': checkpoint has shape (2, 4), model has (2, 3)...
    """
    path = _checkpoint_path(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit the configured embedding model: "
            f"missing layers {missing[:5]}, unexpected layers "
            f"{unexpected[:5]} (is it the same architecture?)"
        )
    for key, value in own.items():
        if state[key].shape != value.shape:
            raise ValueError(
                f"{path}: layer '{key}': checkpoint has shape "
                f"{tuple(state[key].shape)}, model has {tuple(value.shape)}. "
                "Set the model size in the YAML to the pretrained one."
            )
    model.load_state_dict(state)
    return path
