"""Offline simulated emotional corpus: MBROLA diphone voices via espeak-ng.

Each MBROLA database was recorded from one real person, so each database is
one speaker (``mb-de4`` and ``mb-de4-en`` are the same person: the speaker id
is ``mb-de4``). espeak-ng turns text into MBROLA phoneme lines (``--pho``);
we rewrite their F0 and durations per emotional *style* and render them with
``mbrola``. Every style is a distribution: each utterance draws its own F0
level, range and contour, tempo and pauses, loudness, intensity contour
(louder accented syllables, wider or flatter dynamics) and voice colour
(spectral tilt, low-pass, breath noise). Optional vocal-tract-length copies
(``mbrola -l RATE``) add simulated speakers, always in their source's split.

The design is parallel (speakers x styles x sentences) so that every
utterance has same-speaker partners in the other emotions. Output: 16 kHz
mono 16-bit WAVs under ``<out_dir>/wav/<spk_id>/`` and ``metadata.csv``.

Deterministic (seeds from ``zlib.crc32`` of the utterance id, independent of
the number of workers), parallel, resumable (atomic renames; existing files
are validated and kept).

Modules, one concern each:

* ``voices``: the MBROLA databases, their fixed split and the speakers;
* ``styles``: the emotional styles as parameter distributions;
* ``phonemes``: espeak-ng's phoneme lines, their F0/duration rewrite and
  the (accented) syllable nuclei;
* ``render``: ``mbrola`` and the signal processing of one utterance;
* ``corpus``: the corpus sizes and the resumable, parallel generator.

Authors: speechbrain-emoinv contributors
"""
