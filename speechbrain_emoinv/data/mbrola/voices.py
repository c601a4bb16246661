"""The MBROLA voices: databases, their fixed speaker split, the speakers.

Authors: speechbrain-emoinv contributors
"""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MBROLA_DIRS = ("/usr/share/mbrola", "/usr/share/mbrola/voices")

# Fixed speaker split (source databases; derived speakers follow them).
EVAL_VOICES = "us2 en1 de5 de7 fr2 fr5 nl2 pl1 ro1 sw2 hu1 lt1 br3 cz2".split()
VALID_VOICES = ("de3", "br4", "us3", "de6", "fr6", "sw1")
# Voices that read English acceptably (data-notes); cn1 renders nothing and
# es4 la1 tr1 tr2 are poor, so they are left out.
ALL_VOICES = (
    "us1 us2 us3 en1 af1 cz2 de1 de2 de3 de4 de5 de6 de7 fr1 fr2 fr3 fr4 "
    "fr5 fr6 fr7 hu1 ir1 lt1 lt2 nl2 nl3 pl1 ro1 sw1 sw2 gr2 br1 br2 br3 "
    "br4 ca1 cr1 ee1 id1"
).split()


class MissingToolError(RuntimeError):
    """espeak-ng, mbrola or an MBROLA voice is not installed."""


@dataclass(frozen=True)
class Speaker:
    """One (possibly simulated) speaker of the corpus."""

    spk_id: str
    voice: str
    espeak_voice: str
    db_path: str
    gender: str
    lang: str
    vtl_factor: float = 1.0

    @property
    def simulated(self):
        """True for vocal-tract-length copies."""
        return self.vtl_factor != 1.0

    @property
    def split(self):
        """Speaker split of the source voice."""
        return voice_split(self.voice)


def voice_split(voice):
    """Returns the fixed split of an MBROLA database.

    Arguments
    ---------
    voice : str
        MBROLA database name, e.g. ``"de5"``.

    Returns
    -------
    str
        ``"eval"``, ``"valid"`` or ``"train"``.

    Example
    -------
    >>> [voice_split(v) for v in ("de5", "us3", "us1")]
    ['eval', 'valid', 'train']
    """
    if voice in EVAL_VOICES:
        return "eval"
    if voice in VALID_VOICES:
        return "valid"
    return "train"


def _espeak_data_dir():
    """espeak-ng's data folder, as the program itself reports it."""
    out = subprocess.run(
        ["espeak-ng", "--version"], capture_output=True, text=True
    ).stdout
    match = re.search(r"Data at:\s*(\S+)", out)
    if match:
        return Path(match.group(1))
    return Path("/usr/share/espeak-ng-data")


def check_tools():
    """Raises :class:`MissingToolError` naming the package to install.

    Example
    -------
    >>> check_tools()
    """
    for prog in ("espeak-ng", "mbrola"):
        if shutil.which(prog) is None:
            raise MissingToolError(
                f"'{prog}' not found on PATH: install the Debian package "
                f"'{prog}' (as root: bash tools/install_system_deps.sh)"
            )


def _read_voice_def(path):
    """gender and language lines of an espeak-ng voice definition."""
    gender, lang = "", ""
    for line in Path(path).read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "gender" and not gender:
            gender = {"male": "m", "female": "f"}.get(words[1], "")
        if len(words) >= 2 and words[0] == "language" and not lang:
            lang = words[1]
    return gender, lang


def find_speakers(voices, vtl_factors=()):
    """Builds the speaker list, failing clearly on missing voices.

    Arguments
    ---------
    voices : sequence of str
        MBROLA database names (``us1``, ``de4``, ...).
    vtl_factors : sequence of float
        For each factor f, one simulated copy of every voice rendered with
        ``mbrola -l f * rate`` (spectral envelope scaled like a different
        vocal-tract length), id ``<spk>-vtl<f*100>``.

    Returns
    -------
    list of Speaker

    Raises
    ------
    MissingToolError
        Naming the missing programs or ``mbrola-<voice>`` packages.

    Example
    -------
    >>> spk = find_speakers(["de4"], vtl_factors=[0.85])
    >>> [(s.spk_id, s.espeak_voice, s.gender, s.simulated) for s in spk]
    [('mb-de4', 'mb-de4-en', 'm', False), ('mb-de4-vtl085', 'mb-de4-en', 'm', True)]
    """
    check_tools()
    vdir = _espeak_data_dir() / "voices" / "mb"
    speakers, missing = [], []
    for voice in voices:
        db = next(
            (
                Path(d) / voice / voice
                for d in MBROLA_DIRS
                if (Path(d) / voice / voice).is_file()
            ),
            None,
        )
        own_def = vdir / f"mb-{voice}"
        if db is None or not own_def.is_file():
            missing.append(voice)
            continue
        gender, lang = _read_voice_def(own_def)
        en_def = vdir / f"mb-{voice}-en"
        if en_def.is_file():
            espeak_voice, lang = f"mb-{voice}-en", "en"
        else:
            espeak_voice = f"mb-{voice}"
        lang = lang.split("-")[0]
        base = Speaker(
            f"mb-{voice}", voice, espeak_voice, str(db), gender, lang
        )
        speakers.append(base)
        for f in vtl_factors:
            speakers.append(
                Speaker(
                    f"mb-{voice}-vtl{round(f * 100):03d}",
                    voice,
                    espeak_voice,
                    str(db),
                    gender,
                    lang,
                    float(f),
                )
            )
    if missing:
        pkgs = " ".join(f"mbrola-{v}" for v in missing)
        raise MissingToolError(
            f"MBROLA voice(s) not installed: {' '.join(missing)}. Install "
            f"the Debian packages {pkgs} (as root: bash "
            "tools/install_system_deps.sh)"
        )
    return speakers
