"""Start training from a pretrained SpeechBrain speaker model.

The method's own flow is pretraining on a large neutral corpus (VoxCeleb),
then emotional fine-tuning; most users start from an ECAPA-TDNN they
already have: an exported speechbrain-emoinv folder, a local copy of
SpeechBrain's ``spkrec-ecapa-voxceleb``, or its hub id. The files are
fetched by SpeechBrain's ``Pretrainer`` (so a hub id, a local folder and
DDP runs behave as in SpeechBrain's own recipes); only the embedding model
is taken, as the speaker classifier depends on the training speakers.

Authors
 * speechbrain-emoinv contributors 2026
"""

import os

import torch
from speechbrain.utils.distributed import run_on_main
from speechbrain.utils.fetching import FetchConfig
from speechbrain.utils.parameter_transfer import Pretrainer

CKPT_FILE = "embedding_model.ckpt"
# Written beside it by the recipe's export (as in SpeechBrain's hub folders).
CLASSIFIER_FILE = "classifier.ckpt"
LABELS_FILE = "label_encoder.txt"


def checkpoint_source(source):
    """The ``Pretrainer`` path of the embedding checkpoint of ``source``.

    Arguments
    ---------
    source : str
        A folder holding ``embedding_model.ckpt``, the ``.ckpt`` file
        itself, or a hub id ``owner/name``. Anything else that does not
        exist on disk is an error, not a network request: so is an
        ``owner/name`` whose ``owner`` is a local folder (a mistyped path)
        and, with ``HF_HUB_OFFLINE`` set, any hub id.

    Returns
    -------
    str
        ``<folder or hub id>/embedding_model.ckpt``, or the file.

    Example
    -------
    >>> checkpoint_source("speechbrain/spkrec-ecapa-voxceleb")
    'speechbrain/spkrec-ecapa-voxceleb/embedding_model.ckpt'
    >>> checkpoint_source("results/typo/pretrained")
    Traceback (most recent call last):
    ...
    FileNotFoundError: results/typo/pretrained: no such folder or file, and not a hub id (owner/name)
    """
    source = str(source)
    if os.path.isfile(source):
        return source
    if os.path.isdir(source):
        path = os.path.join(source, CKPT_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{source}: no {CKPT_FILE} in this folder (give a "
                "SpeechBrain pretrained folder, the checkpoint file or a "
                "hub id)"
            )
        return path
    parts = source.split("/")
    if len(parts) != 2 or not all(parts) or source.startswith("."):
        raise FileNotFoundError(
            f"{source}: no such folder or file, and not a hub id (owner/name)"
        )
    # A mistyped local path such as ``pretrained/ecapa`` looks like a hub
    # id: never send it to the network.
    if os.path.isdir(parts[0]):
        raise FileNotFoundError(
            f"{source}: no such folder or file (taken as a local path, as "
            f"{parts[0]}/ exists here)"
        )
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        raise FileNotFoundError(
            f"{source}: no such folder or file, and HF_HUB_OFFLINE is set "
            "(a hub id needs the network)"
        )
    return f"{source}/{CKPT_FILE}"


def strict_load(model, path):
    """Loads a state dict into ``model``; every key and shape must match.

    SpeechBrain's default transfer hook loads with ``strict=False`` and only
    warns about missing layers, so a checkpoint of another architecture
    would train from a half-random model; here it is an error. PyTorch's
    own message lists every mismatch on many lines; the error keeps the
    first two and says what to change.

    Arguments
    ---------
    model : torch.nn.Module
        The freshly built embedding model.
    path : str or Path
        The checkpoint file.

    Example
    -------
    >>> import tempfile
    >>> ckpt = os.path.join(tempfile.mkdtemp(), "embedding_model.ckpt")
    >>> torch.save(torch.nn.Linear(4, 2).state_dict(), ckpt)
    >>> strict_load(torch.nn.Linear(3, 2), ckpt)
    Traceback (most recent call last):
    ...
    ValueError: ...size mismatch for weight: copying a param with shape torch.Size([2, 4]) from checkpoint, the shape in current model is torch.Size([2, 3])...
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = getattr(model, "module", model)  # DDP-wrapped
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"{os.path.realpath(path)} does not fit the configured embedding "
            f"model: {mismatch_summary(err)}. Set the model size in the "
            "YAML (ecapa_channels, ecapa_attention, emb_dim, n_mels) to the "
            "pretrained one."
        ) from None


def mismatch_summary(err):
    """The first two lines of PyTorch's ``load_state_dict`` error (which
    lists every mismatched tensor, tens of KB for a whole model).

    Example
    -------
    >>> err = RuntimeError("Error(s):\\n\\ta\\n\\tb\\n\\tc\\n")
    >>> mismatch_summary(err)
    'a b (and 1 more)'
    """
    lines = [ln.strip() for ln in str(err).splitlines()[1:] if ln.strip()]
    more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
    return f"{' '.join(lines[:2])}{more}"


def load_embedding_weights(model, source, collect_in, fetch_config=None):
    """Loads a pretrained ``embedding_model.ckpt`` through ``Pretrainer``.

    Arguments
    ---------
    model : torch.nn.Module
        The freshly built embedding model.
    source : str
        Folder, checkpoint file or hub id (see ``checkpoint_source``).
    collect_in : str
        Folder where the ``Pretrainer`` links or downloads the file (the
        main process fetches, every process loads).
    fetch_config : FetchConfig or None
        E.g. ``FetchConfig(allow_network=False)`` to stay offline.

    Returns
    -------
    str
        The ``Pretrainer`` path that was loaded.

    Example
    -------
    >>> import tempfile
    >>> src, dst = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    >>> folder = tempfile.mkdtemp()
    >>> torch.save(src.state_dict(), os.path.join(folder, CKPT_FILE))
    >>> collect = os.path.join(tempfile.mkdtemp(), "init")
    >>> _ = load_embedding_weights(dst, folder, collect)
    >>> torch.equal(src.weight, dst.weight)
    True
    """
    path = checkpoint_source(source)
    pretrainer = Pretrainer(
        collect_in=collect_in,
        loadables={"embedding_model": model},
        paths={"embedding_model": path},
        custom_hooks={"embedding_model": strict_load},
    )
    run_on_main(
        pretrainer.collect_files,
        kwargs={"fetch_config": fetch_config or FetchConfig()},
    )
    pretrainer.load_collected()
    return path


def load_known_classes(classifier, label_encoder, source):
    """Warm start of the speaker classifier from a pretrained one.

    Every class of ``label_encoder`` that the source's classifier knew too
    (same speaker label) starts from its learnt AAM weight row; the others
    keep their random start. Stage 2 rehearses the voices of stage 1: with
    their class centres in place from the first step, AAM-softmax does not
    pull the embeddings toward random centres while the new ones settle.

    Arguments
    ---------
    classifier : speechbrain.lobes.models.ECAPA_TDNN.Classifier
        The freshly built classifier (its ``weight``: classes x dim).
    label_encoder : speechbrain.dataio.encoder.CategoricalEncoder
        This run's speaker classes.
    source : str
        Pretrained folder (or its checkpoint file) holding
        ``classifier.ckpt`` and ``label_encoder.txt``.

    Returns
    -------
    int
        Classes warm-started (0 when the source has no classifier).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> from speechbrain.lobes.models.ECAPA_TDNN import Classifier
    >>> folder = tempfile.mkdtemp()
    >>> old, new = Classifier(4, out_neurons=2), Classifier(4, out_neurons=3)
    >>> torch.save(old.state_dict(), os.path.join(folder, CLASSIFIER_FILE))
    >>> enc_old, enc_new = CategoricalEncoder(), CategoricalEncoder()
    >>> enc_old.update_from_iterable(["a", "b"])
    >>> enc_old.save(os.path.join(folder, LABELS_FILE))
    >>> enc_new.update_from_iterable(["c", "b", "a"])
    >>> load_known_classes(new, enc_new, folder)
    2
    >>> torch.equal(new.weight[2], old.weight[0])  # "a"
    True
    """
    folder = source if os.path.isdir(source) else os.path.dirname(source)
    ckpt = os.path.join(folder, CLASSIFIER_FILE)
    labels = os.path.join(folder, LABELS_FILE)
    if not (os.path.isfile(ckpt) and os.path.isfile(labels)):
        return 0
    from speechbrain.dataio.encoder import CategoricalEncoder

    known = CategoricalEncoder()
    known.load(labels)
    weight = torch.load(ckpt, map_location="cpu", weights_only=True)["weight"]
    classifier = getattr(classifier, "module", classifier)
    shared = [
        (index, known.lab2ind[label])
        for label, index in label_encoder.lab2ind.items()
        if label in known.lab2ind
    ]
    with torch.no_grad():
        for new, old in shared:
            classifier.weight[new] = weight[old]
    return len(shared)


def freeze_blocks(model, n):
    """Freezes the first ``n`` frame-level blocks of an ECAPA-TDNN for
    fine-tuning (partial fine-tuning, a remedy against forgetting): their
    weights get no gradient and their batch-norm statistics stay those of
    the start (momentum 0; a train-mode forward would otherwise move them
    toward the new data).

    Arguments
    ---------
    model : speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
        The embedding model (its ``blocks``: the TDNN block, then the
        SE-Res2Net blocks).
    n : int
        How many blocks to freeze (0: none).

    Returns
    -------
    frozen : int
        The number of parameters frozen.

    Example
    -------
    >>> from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    >>> net = ECAPA_TDNN(20, channels=[8, 8, 8, 8, 24], lin_neurons=4)
    >>> frozen = freeze_blocks(net, 2)
    >>> before = net.blocks[0].norm.norm.running_mean.clone()
    >>> _ = net.train()(torch.randn(3, 50, 20))
    >>> torch.equal(before, net.blocks[0].norm.norm.running_mean)
    True
    >>> [all(p.requires_grad for p in b.parameters()) for b in net.blocks]
    [False, False, True, True]
    """
    if not 0 <= n <= len(model.blocks):
        raise ValueError(
            f"freeze_blocks: {n}, the model has {len(model.blocks)} blocks"
        )
    frozen = 0
    for block in model.blocks[:n]:
        for p in block.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
        for m in block.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = 0.0
    return frozen
