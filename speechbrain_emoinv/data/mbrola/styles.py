"""The emotional styles: one distribution of prosody and colour per style.

Authors: speechbrain-emoinv contributors
"""

import numpy as np

BASE_STYLES = ("neutral", "angry", "happy", "sad", "fear", "surprise")

# Every style lists its parameters in this order: draw_style draws them as
# listed from one generator, so the order fixes the random stream.
STYLE_PARAMS = (
    "level", "range", "decl", "final", "jitter", "tempo", "phone_sd",
    "pause", "loud", "tilt", "lowpass", "breath", "accent", "dynamics",
)  # fmt: skip

# Style distributions: name -> (mean, standard deviation) per parameter.
# level/decl/final/jitter in semitones, loud in dB, tilt in [-1, 1]
# (>0 brighter), lowpass in Hz (0: none), breath in dB re. speech RMS;
# accent: dB on the accented syllables, dynamics: factor on the spread of
# the phones' levels (<1 flatter); see render.intensity_contour.
# Directions follow the literature on acted emotion (docs/data.md).
STYLES = {
    "neutral": dict(
        level=(0, 0.7), range=(1.0, 0.08), decl=(-2, 0.7), final=(-1, 0.7),
        jitter=(0.15, 0.03), tempo=(1.0, 0.04), phone_sd=(0.05, 0.01),
        pause=(1.0, 0.1), loud=(0, 1), tilt=(0, 0.08), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(0, 0), dynamics=(1, 0),
    ),
    "angry": dict(
        level=(3.5, 1), range=(1.5, 0.15), decl=(-4, 1), final=(-2.5, 1),
        jitter=(0.4, 0.1), tempo=(0.88, 0.04), phone_sd=(0.08, 0.02),
        pause=(0.6, 0.1), loud=(5, 1.2), tilt=(0.6, 0.12), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(8, 1.5), dynamics=(1.3, 0.1),
    ),
    "happy": dict(
        level=(4, 1), range=(1.7, 0.2), decl=(-1, 1), final=(1.5, 1),
        jitter=(0.3, 0.08), tempo=(0.93, 0.04), phone_sd=(0.07, 0.02),
        pause=(0.8, 0.1), loud=(2.5, 1), tilt=(0.3, 0.1), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(6, 1.2), dynamics=(1.15, 0.08),
    ),
    "sad": dict(
        level=(-2, 0.8), range=(0.5, 0.08), decl=(-2.5, 0.8),
        final=(-1.5, 0.6), jitter=(0.15, 0.04), tempo=(1.25, 0.06),
        phone_sd=(0.06, 0.02), pause=(1.8, 0.25), loud=(-5, 1.2),
        tilt=(-0.5, 0.12), lowpass=(4000, 500), breath=(-32, 3),
        accent=(0, 0), dynamics=(0.4, 0.1),
    ),
    "fear": dict(
        level=(5, 1.2), range=(0.8, 0.12), decl=(0.5, 1), final=(2, 1),
        jitter=(1.0, 0.2), tempo=(0.85, 0.05), phone_sd=(0.15, 0.03),
        pause=(1.3, 0.3), loud=(-1, 1.2), tilt=(-0.35, 0.1), lowpass=(0, 0),
        breath=(-26, 3),
        accent=(4, 1), dynamics=(1.1, 0.08),
    ),
    "surprise": dict(
        level=(5, 1), range=(1.9, 0.2), decl=(1, 1), final=(5, 1.2),
        jitter=(0.3, 0.08), tempo=(0.95, 0.05), phone_sd=(0.07, 0.02),
        pause=(1.0, 0.15), loud=(3, 1), tilt=(0.35, 0.1), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(6, 1.2), dynamics=(1.15, 0.08),
    ),
    "disgust": dict(
        level=(-1.5, 0.8), range=(1.2, 0.12), decl=(-3, 1), final=(-2, 0.8),
        jitter=(0.3, 0.08), tempo=(1.15, 0.05), phone_sd=(0.08, 0.02),
        pause=(1.4, 0.2), loud=(0.5, 1), tilt=(-0.2, 0.1),
        lowpass=(5000, 600), breath=(-99, 0),
        accent=(0, 0), dynamics=(1, 0),
    ),
}  # fmt: skip


def draw_style(style, rng, variation=1.0):
    """Draws one utterance's prosody/colour parameters from a style.

    Arguments
    ---------
    style : str
        Key of :data:`STYLES`.
    rng : numpy.random.Generator
        Seeded generator.
    variation : float
        Scales every standard deviation (``full`` uses more).

    Returns
    -------
    dict
        Parameter name -> value.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> p = draw_style("sad", rng)
    >>> p["tempo"] > 1.0, p["loud"] < 0
    (True, True)
    """
    params = {}
    for name, (mean, sd) in STYLES[style].items():
        params[name] = float(mean + variation * sd * rng.standard_normal())
    params["range"] = max(params["range"], 0.2)
    params["tempo"] = float(np.clip(params["tempo"], 0.6, 1.8))
    params["pause"] = max(params["pause"], 0.2)
    params["phone_sd"] = max(params["phone_sd"], 0.0)
    params["jitter"] = max(params["jitter"], 0.0)
    params["dynamics"] = max(params["dynamics"], 0.0)
    return params
