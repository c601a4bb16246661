"""L2-SP: keep fine-tuned weights near their pretrained starting point.

Li, Grandvalet & Davoine, "Explicit inductive bias for transfer learning
with convolutional networks" (ICML 2018): instead of weight decay toward
zero, fine-tuning penalises the distance to the pretrained weights w0,

    L = task loss + alpha / 2 * ||w - w0||^2,

a standard remedy against forgetting what pretraining learnt. Here it is
one of the measured alternatives to rehearsing the stage-1 voices in
stage 2 (``benchmarks/tuning.md``).

Authors
 * speechbrain-emoinv contributors 2026
"""

import torch

__all__ = ["L2SP"]


class L2SP(torch.nn.Module):
    """``alpha / 2 * ||w - w0||^2`` over a module's parameters.

    :meth:`anchor` stores the starting point w0 (call it once the
    pretrained weights are loaded, before training or a resumed
    checkpoint changes them); calling the object returns the penalty.

    Arguments
    ---------
    alpha : float
        Weight of the penalty.

    Example
    -------
    >>> net = torch.nn.Linear(2, 1, bias=False)
    >>> penalty = L2SP(alpha=2.0)
    >>> penalty.anchor(net)
    >>> float(penalty(net))
    0.0
    >>> with torch.no_grad():
    ...     net.weight += torch.tensor([[1.0, 2.0]])
    >>> float(penalty(net))  # 2 / 2 * (1 + 4)
    5.0
    """

    def __init__(self, alpha):
        super().__init__()
        self.alpha = float(alpha)
        self.start = None

    def anchor(self, module):
        """Stores ``module``'s current parameters as the starting point."""
        self.start = {
            name: p.detach().clone() for name, p in module.named_parameters()
        }

    def forward(self, module):
        """The penalty of ``module``'s current parameters."""
        if self.start is None:
            raise RuntimeError("L2SP: call anchor(module) before training")
        total = sum(
            (p - self.start[name].to(p.device)).pow(2).sum()
            for name, p in module.named_parameters()
        )
        return 0.5 * self.alpha * total
