"""Random band-limiting: bandwidth must not identify a speaker.

Real voices come from sources of different bandwidths (8 kHz GSM prompts,
11 kHz MP3 game dialogue, 16-44 kHz read speech), so a model can learn a
source's bandwidth as a speaker cue. Resampling a batch down to a random
rate and back gives every voice every bandwidth.

Authors: speechbrain-emoinv contributors
"""

import torch
from speechbrain.augment.time_domain import Resample


class RandomBandLimit(torch.nn.Module):
    """Limits a batch to the band of a rate drawn from ``rates``.

    Arguments
    ---------
    sample_rate : int
        Rate of the input.
    rates : list of int
        Candidate rates (one per call, drawn uniformly); the input's own
        rate leaves the batch unchanged.

    Example
    -------
    >>> limit = RandomBandLimit(16000, rates=[8000])
    >>> t = torch.arange(16000) / 16000
    >>> x = torch.sin(2 * torch.pi * 6000 * t)[None]  # above 4 kHz
    >>> y = limit(x)
    >>> y.shape, bool(y[:, 1000:-1000].abs().max() < 0.05)
    (torch.Size([1, 16000]), True)
    """

    def __init__(self, sample_rate=16000, rates=(8000, 11025, 16000)):
        super().__init__()
        self.rates = list(rates)
        self.down = torch.nn.ModuleList(
            Resample(sample_rate, r) for r in self.rates
        )
        self.up = torch.nn.ModuleList(
            Resample(r, sample_rate) for r in self.rates
        )

    def forward(self, waveforms):
        """Band-limited ``waveforms`` (batch, time), same length."""
        i = int(torch.randint(len(self.rates), ()))
        y = self.up[i](self.down[i](waveforms))
        n = waveforms.shape[-1]
        return torch.nn.functional.pad(y, (0, max(n - y.shape[-1], 0)))[..., :n]
