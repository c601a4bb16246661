"""Data layer: simulated MBROLA corpus, ``prepare_<corpus>`` functions,
manifest schema, audio checks and emotional trial lists.

Knows nothing of training; see ``docs/data.md``.
"""

from speechbrain_emoinv.data.mbrola_corpus import generate_corpus
from speechbrain_emoinv.data.prepare_mbrola import prepare_mbrola
