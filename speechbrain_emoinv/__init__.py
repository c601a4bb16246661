"""Emotion-invariant speaker embeddings for SpeechBrain (arXiv 2505.18498).

The three paper components live in one module each:

* :mod:`speechbrain_emoinv.copypaste` -- parallel samples (CopyPaste);
* :mod:`speechbrain_emoinv.erl_loss` -- AAM-softmax + cosine pair loss (ERL);
* :mod:`speechbrain_emoinv.emotion_masking` -- RMS-energy masking (EM);

and :mod:`speechbrain_emoinv.pair_sampling` draws the same-speaker,
other-emotion partners they work on.
"""

__version__ = "0.1.0"
