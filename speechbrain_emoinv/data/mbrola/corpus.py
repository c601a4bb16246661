"""The corpus: sizes, sentences, and the resumable, parallel generator.

Authors: speechbrain-emoinv contributors
"""

import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path

import soundfile as sf
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from speechbrain_emoinv.atomic_files import write_csv
from speechbrain_emoinv.data.mbrola.phonemes import espeak_pho
from speechbrain_emoinv.data.mbrola.render import SAMPLE_RATE, synthesize
from speechbrain_emoinv.data.mbrola.styles import BASE_STYLES
from speechbrain_emoinv.data.mbrola.voices import ALL_VOICES, find_speakers

logger = get_logger(__name__)

GENERATOR_VERSION = 2
SENTENCES_FILE = Path(__file__).with_name("sentences.txt")

# tiny and default differ only in voices and sentences.
_BASE_SIZE = dict(styles=BASE_STYLES, vtl_factors=(), variation=1.0)
SIZES = {
    # 8 speakers over the three splits x 6 styles x 4 short sentences.
    "tiny": dict(
        _BASE_SIZE,
        voices=("us1", "de4", "fr1", "de3", "us3", "us2", "de5", "fr2"),
        n_sentences=4,
    ),
    "default": dict(_BASE_SIZE, voices=tuple(ALL_VOICES), n_sentences=22),
    "full": dict(
        voices=tuple(ALL_VOICES),
        styles=BASE_STYLES + ("disgust",),
        n_sentences=64,
        vtl_factors=(0.85, 1.18),
        variation=1.3,
    ),
}

METADATA_FIELDS = (
    "ID",
    "wav",
    "spk_id",
    "emotion",
    "text_id",
    "gender",
    "lang",
    "voice",
    "espeak_voice",
    "vtl_factor",
    "simulated",
    "split",
    "text",
)


def load_sentences(path=SENTENCES_FILE):
    """Reads the project's sentences (``#`` lines are comments).

    Arguments
    ---------
    path : str or Path
        Text file, one sentence per line.

    Returns
    -------
    list of (str, str)
        ``(text_id, text)`` with ``text_id`` = ``s001``, ``s002``, ...

    Example
    -------
    >>> sents = load_sentences()
    >>> len(sents) >= 60, sents[0]
    (True, ('s001', 'The door is open.'))
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    texts = [ln.strip() for ln in lines if ln.strip() and ln[0] != "#"]
    return [(f"s{i + 1:03d}", t) for i, t in enumerate(texts)]


def is_valid_wav(path):
    """True when ``path`` is a readable non-empty 16 kHz mono 16-bit WAV.

    Arguments
    ---------
    path : str or Path

    Returns
    -------
    bool

    Example
    -------
    >>> is_valid_wav("/nonexistent.wav")
    False
    """
    try:
        info = sf.info(str(path))
    except Exception:
        return False
    return (
        info.samplerate == SAMPLE_RATE
        and info.channels == 1
        and info.subtype == "PCM_16"
        and info.frames > 0
    )


def _write_atomic(path, samples):
    """Writes a WAV under a temporary name, then renames it into place."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
    sf.write(str(tmp), samples, SAMPLE_RATE, subtype="PCM_16")
    os.replace(tmp, path)


def _task(args):
    """Worker: every style of one (speaker, sentence); returns rows, count."""
    out_dir, speaker, text_id, text, styles, seed, variation = args
    spk_dir = Path(out_dir) / "wav" / speaker.spk_id
    spk_dir.mkdir(parents=True, exist_ok=True)
    phones, rows, made = None, [], 0
    for style in styles:
        utt_id = f"{speaker.spk_id}_{style}_{text_id}"
        path = spk_dir / f"{utt_id}.wav"
        if not is_valid_wav(path):
            if phones is None:
                phones = espeak_pho(speaker.espeak_voice, text)
            samples = synthesize(
                speaker, style, phones, utt_id, seed, variation
            )
            _write_atomic(path, samples)
            made += 1
        rows.append(
            dict(
                ID=utt_id,
                wav=str(path.relative_to(out_dir)),
                spk_id=speaker.spk_id,
                emotion=style,
                text_id=text_id,
                gender=speaker.gender,
                lang=speaker.lang,
                voice=speaker.voice,
                espeak_voice=speaker.espeak_voice,
                vtl_factor=f"{speaker.vtl_factor:g}",
                simulated=int(speaker.simulated),
                split=speaker.split,
                text=text,
            )
        )
    return rows, made


def corpus_config(size, seed):
    """The options that define a corpus' content (checked on resume).

    Arguments
    ---------
    size : str
        Key of :data:`SIZES`.
    seed : int
        Corpus seed.

    Returns
    -------
    dict

    Example
    -------
    >>> corpus_config("tiny", 1)["n_sentences"]
    4
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    conf = dict(SIZES[size])
    conf = {k: list(v) if isinstance(v, tuple) else v for k, v in conf.items()}
    conf.update(size=size, seed=seed, generator_version=GENERATOR_VERSION)
    return conf


def generate_corpus(out_dir, size="default", num_workers=None, seed=1234):
    """Generates (or completes) the simulated emotional corpus.

    Arguments
    ---------
    out_dir : str or Path
        Output folder (git-ignored, e.g. ``data/mbrola``); holds
        ``wav/<spk_id>/<ID>.wav``, ``metadata.csv`` and
        ``corpus_config.json``.
    size : str
        ``tiny`` (tests), ``default`` or ``full`` (see :data:`SIZES`).
    num_workers : int or None
        Processes (default: the usable CPU cores). Results do not depend
        on it.
    seed : int
        Corpus seed.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    MissingToolError
        When espeak-ng, mbrola or a voice is missing.
    ValueError
        When ``out_dir`` holds a corpus made with other options.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> SIZES["doc"] = dict(
    ...     voices=("us1",),
    ...     styles=("neutral", "sad"),
    ...     n_sentences=1,
    ...     vtl_factors=(),
    ...     variation=1.0,
    ... )
    >>> out = generate_corpus(tmp, size="doc", num_workers=1)
    >>> sorted(p.name for p in (out / "wav" / "mb-us1").iterdir())
    ['mb-us1_neutral_s001.wav', 'mb-us1_sad_s001.wav']
    >>> del SIZES["doc"]
    """
    out_dir = Path(out_dir)
    conf = corpus_config(size, seed)
    speakers = find_speakers(conf["voices"], conf["vtl_factors"])
    sentences = load_sentences()[: conf["n_sentences"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    conf_path = out_dir / "corpus_config.json"
    if conf_path.is_file():
        old = json.loads(conf_path.read_text())
        version = old.get("generator_version", 1)
        same = {k: v for k, v in conf.items() if k != "generator_version"}
        if version != GENERATOR_VERSION and same == {
            k: v for k, v in old.items() if k != "generator_version"
        }:
            # The same corpus from an older generator: made again, whole
            # (its files would pass as already valid).
            logger.warning(
                f"[mbrola corpus] {out_dir} was made by generator version "
                f"{version}; generating version {GENERATOR_VERSION} in its place"
            )
            shutil.rmtree(out_dir / "wav", ignore_errors=True)
            (out_dir / "metadata.csv").unlink(missing_ok=True)
            conf_path.write_text(json.dumps(conf, indent=1))
            old = conf
        if old != conf:
            raise ValueError(
                f"{out_dir} holds a corpus made with other options "
                f"({conf_path}: size={old.get('size')}, "
                f"seed={old.get('seed')}); use another out_dir"
            )
    else:
        conf_path.write_text(json.dumps(conf, indent=1))
    # Half-written files of an interrupted run (never valid outputs).
    for stale in out_dir.glob("wav/*/.*.tmp.wav"):
        stale.unlink()
    tasks = [
        (str(out_dir), spk, tid, text, conf["styles"], seed, conf["variation"])
        for spk in speakers
        for tid, text in sentences
    ]
    if num_workers is None:
        num_workers = len(os.sched_getaffinity(0))
    rows, made = [], 0
    bar = tqdm(total=len(tasks) * len(conf["styles"]), desc="mbrola corpus")
    if num_workers <= 1:
        results = map(_task, tasks)
        pool = None
    else:
        pool = mp.get_context("fork").Pool(num_workers)
        results = pool.imap(_task, tasks, chunksize=4)
    try:
        for task_rows, task_made in results:
            rows.extend(task_rows)
            made += task_made
            bar.update(len(task_rows))
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    write_csv(out_dir / "metadata.csv", METADATA_FIELDS, rows)
    logger.info(
        f"[mbrola corpus] {len(rows)} files in {out_dir} "
        f"({made} generated, {len(rows) - made} already valid)"
    )
    return out_dir
