"""Writes a trained speaker encoder out, one job per module:

* :mod:`speechbrain_emoinv.export.folder` -- the SpeechBrain pretrained
  folder (``hyperparams.yaml``, checkpoint, cohort);
* :mod:`speechbrain_emoinv.export.model_card` -- its ``README.md``;
* :mod:`speechbrain_emoinv.export.formats` -- the deployable TorchScript
  and ONNX files, checked against PyTorch.

What a folder holds and how it is read and loaded is
:mod:`speechbrain_emoinv.pretrained`. Nothing is re-exported here: import
from the modules.
"""
