"""Data layer: simulated MBROLA corpus, ``prepare_<corpus>`` functions,
manifest schema, audio checks and emotional trial lists.

Knows nothing of training; see ``docs/data.md``.
"""

from speechbrain_emoinv.data.mbrola_corpus import generate_corpus
from speechbrain_emoinv.data.prepare_cremad import prepare_cremad
from speechbrain_emoinv.data.prepare_dusha import prepare_dusha
from speechbrain_emoinv.data.prepare_esd import prepare_esd
from speechbrain_emoinv.data.prepare_iemocap import prepare_iemocap
from speechbrain_emoinv.data.prepare_mbrola import prepare_mbrola
from speechbrain_emoinv.data.prepare_ravdess import prepare_ravdess
from speechbrain_emoinv.data.prepare_voxceleb import prepare_voxceleb
