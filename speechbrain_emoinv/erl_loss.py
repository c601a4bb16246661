"""ERL: AAM-softmax plus a cosine pair loss on parallel samples.

The emotion-invariant representation learning (ERL) objective of Tian, Hu &
Xu (arXiv 2505.18498) adds to the usual speaker classification loss a term
pulling the embedding of each utterance towards the embedding of its
parallel sample (same speaker, different emotional make-up):

    L = AAM(all 2B samples) + lambda * mean_i (1 - cos(e(x_i), e(x~_i)))

The AAM part is SpeechBrain's own
``LogSoftmaxWrapper(AdditiveAngularMargin(margin, scale))``.

Authors
 * speechbrain-emoinv contributors
"""

import torch
import torch.nn.functional as F
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

__all__ = ["ERLLoss"]


def _flat_embeddings(emb, name):
    """Brings ``(B, D)`` or ``(B, 1, D)`` embeddings to ``(B, D)``.

    Arguments
    ---------
    emb : torch.Tensor
        Embeddings.
    name : str
        Argument name for error messages.

    Returns
    -------
    torch.Tensor
    """
    if emb.dim() == 3 and emb.shape[1] == 1:
        emb = emb.squeeze(1)
    if emb.dim() != 2:
        raise ValueError(
            f"{name} must be (B, D) or (B, 1, D), got {tuple(emb.shape)}"
        )
    return emb


class ERLLoss(torch.nn.Module):
    """AAM-softmax speaker loss plus a weighted cosine pair loss.

    ``pair_weight`` (lambda) can be warmed up: it ramps linearly from
    ``warmup_start * pair_weight`` at step 0 to ``pair_weight`` at
    ``warmup_steps`` optimizer steps, and stays there.

    Arguments
    ---------
    margin : float
        Additive angular margin (radians) of the AAM-softmax.
    scale : float
        Scale of the AAM-softmax.
    pair_weight : float
        Weight lambda of the pair loss.
    warmup_steps : int
        Length of the linear warm-up of lambda (0: no warm-up).
    warmup_start : float
        Fraction of ``pair_weight`` at step 0 of the warm-up.

    Example
    -------
    >>> import torch
    >>> loss_fn = ERLLoss(margin=0.2, scale=30.0, pair_weight=1.0)
    >>> outputs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.6]])
    >>> targets = torch.tensor([0, 1, 0, 1])
    >>> e = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> e_par = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # cos 1 and cos 0
    >>> total, parts = loss_fn(outputs, targets, e, e_par)
    >>> round(float(parts["pair"]), 4)
    0.5
    >>> bool(torch.isclose(total, parts["aam"] + 0.5))
    True
    """

    def __init__(
        self,
        margin=0.2,
        scale=30.0,
        pair_weight=1.0,
        warmup_steps=0,
        warmup_start=0.0,
    ):
        super().__init__()
        if int(warmup_steps) < 0:
            raise ValueError("warmup_steps must be >= 0")
        self.margin = float(margin)
        self.scale = float(scale)
        self.pair_weight = float(pair_weight)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start = float(warmup_start)
        self.aam = LogSoftmaxWrapper(
            AdditiveAngularMargin(margin=self.margin, scale=self.scale)
        )

    def current_weight(self, step=None):
        """Pair-loss weight after ``step`` optimizer steps.

        Arguments
        ---------
        step : int, optional
            Optimizer steps done (``None``: full weight).

        Returns
        -------
        float

        Example
        -------
        >>> loss_fn = ERLLoss(pair_weight=2.0, warmup_steps=100)
        >>> [loss_fn.current_weight(s) for s in (0, 50, 100, 500, None)]
        [0.0, 1.0, 2.0, 2.0, 2.0]
        """
        if step is None or self.warmup_steps == 0:
            return self.pair_weight
        progress = min(max(float(step), 0.0) / self.warmup_steps, 1.0)
        start = self.warmup_start
        return self.pair_weight * (start + (1.0 - start) * progress)

    def forward(self, outputs, targets, emb_anchor, emb_parallel, step=None):
        """Computes the ERL loss.

        Arguments
        ---------
        outputs : torch.Tensor
            Cosine scores of ``speechbrain.lobes.models.ECAPA_TDNN.Classifier``
            for all ``2B`` samples (anchors then parallel samples),
            ``(2B, 1, n_spk)`` or ``(2B, n_spk)``.
        targets : torch.Tensor
            Speaker indices, ``(2B,)`` or ``(2B, 1)``.
        emb_anchor : torch.Tensor
            Anchor embeddings, ``(B, D)`` or ``(B, 1, D)``.
        emb_parallel : torch.Tensor or None
            Parallel-sample embeddings, same shape; ``None`` gives the
            plain AAM baseline.
        step : int, optional
            Optimizer steps done, for the warm-up (``None``: full weight).

        Returns
        -------
        total : torch.Tensor
            Scalar loss.
        parts : dict
            Detached tensors ``"aam"``, ``"pair"`` (0 without parallel
            samples) and ``"pair_weight"`` (the lambda applied, 0 without
            parallel samples).
        """
        if outputs.dim() == 2:
            outputs = outputs.unsqueeze(1)
        if targets.dim() == 1:
            targets = targets.unsqueeze(1)
        if outputs.shape[0] != targets.shape[0]:
            raise ValueError(
                f"{outputs.shape[0]} score rows but {targets.shape[0]} targets"
            )
        aam = self.aam(outputs, targets)
        zero = aam.new_zeros(())
        if emb_parallel is None:
            parts = {
                "aam": aam.detach(),
                "pair": zero,
                "pair_weight": zero.clone(),
            }
            return aam, parts
        e_a = _flat_embeddings(emb_anchor, "emb_anchor")
        e_p = _flat_embeddings(emb_parallel, "emb_parallel")
        if e_a.shape != e_p.shape:
            raise ValueError(
                f"emb_anchor {tuple(e_a.shape)} and emb_parallel "
                f"{tuple(e_p.shape)} differ"
            )
        cos = F.cosine_similarity(e_a.float(), e_p.float(), dim=-1, eps=1e-8)
        pair = (1.0 - cos).mean()
        weight = self.current_weight(step)
        total = aam + weight * pair
        parts = {
            "aam": aam.detach(),
            "pair": pair.detach(),
            "pair_weight": torch.tensor(weight, device=aam.device),
        }
        return total, parts
