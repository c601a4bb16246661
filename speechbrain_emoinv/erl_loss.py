"""ERL: AAM-softmax plus a cosine pair loss on parallel samples.

The emotion-invariant representation learning objective of Tian, Hu & Xu
(arXiv 2505.18498) adds to the speaker classification loss a term pulling
each utterance's embedding towards its parallel sample's:

    L = AAM(all 2B samples) + lambda * mean_i (1 - cos(e(x_i), e(x~_i)))

Authors
 * speechbrain-emoinv contributors
"""

import torch
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

__all__ = ["ERLLoss"]


class ERLLoss(torch.nn.Module):
    """SpeechBrain's AAM-softmax loss plus a weighted cosine pair loss.

    The pair weight lambda ramps linearly from 0 to ``pair_weight`` over the
    first ``warmup_steps`` optimizer steps.

    Arguments
    ---------
    margin : float
        Additive angular margin of the AAM-softmax.
    scale : float
        Scale of the AAM-softmax.
    pair_weight : float
        Weight lambda of the pair loss.
    warmup_steps : int
        Length of the warm-up of lambda (0: none).

    Example
    -------
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

    def __init__(self, margin=0.2, scale=30.0, pair_weight=1.0, warmup_steps=0):
        super().__init__()
        self.pair_weight = float(pair_weight)
        self.warmup_steps = int(warmup_steps)
        self.aam = LogSoftmaxWrapper(AdditiveAngularMargin(margin, scale))

    def forward(self, outputs, targets, emb_anchor, emb_parallel, step=None):
        """Computes the ERL loss.

        Arguments
        ---------
        outputs : torch.Tensor
            Classifier cosine scores of all ``2B`` samples (anchors, then
            parallels), ``(2B, 1, n_spk)`` or ``(2B, n_spk)``.
        targets : torch.Tensor
            Speaker indices ``(2B,)`` or ``(2B, 1)``.
        emb_anchor : torch.Tensor
            Anchor embeddings ``(B, D)`` or ``(B, 1, D)``.
        emb_parallel : torch.Tensor or None
            Parallel-sample embeddings; ``None``: the plain AAM baseline.
        step : int, optional
            Optimizer steps done (``None``: lambda at full weight).

        Returns
        -------
        total : torch.Tensor
            Scalar loss.
        parts : dict
            Detached ``"aam"``, ``"pair"`` and ``"pair_weight"`` (both 0
            without parallel samples).
        """
        outputs = outputs.reshape(targets.shape[0], 1, -1)
        aam = self.aam(outputs, targets.reshape(-1, 1))
        pair = weight = aam.new_zeros(())
        if emb_parallel is not None:
            cos = torch.nn.functional.cosine_similarity(
                emb_anchor.flatten(1).float(), emb_parallel.flatten(1).float()
            )
            pair = (1.0 - cos).mean()
            ramp = 1.0
            if step is not None and self.warmup_steps:
                ramp = min(step / self.warmup_steps, 1.0)
            weight = aam.new_tensor(self.pair_weight * ramp)
        parts = {
            "aam": aam.detach(),
            "pair": pair.detach(),
            "pair_weight": weight,
        }
        return aam + weight * pair, parts
