"""Data layer: simulated MBROLA corpus, ``prepare_<corpus>`` functions,
manifest schema, audio checks and emotional trial lists.

Knows nothing of training; see ``docs/data.md``. Nothing is re-exported
here: a function named like its module (``prepare_mbrola.prepare_mbrola``)
would shadow the module, and ``pydoc.locate`` (HyperPyYAML's ``!name:``)
could no longer resolve ``speechbrain_emoinv.data.prepare_mbrola.prepare_mbrola``.
Import from the modules.
"""
