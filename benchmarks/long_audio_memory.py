"""Peak memory of embedding one long WAV, whole vs the 60 s window rule.

Exports a randomly initialised ECAPA-TDNN of the recipe's size
(``hparams/emoinv.yaml``: channels 256..768, 192-d), writes a WAV of
``--minutes`` of noise, and embeds it in a fresh process per mode with
``embedding.embed_rows``: ``first_1s`` (baseline: the process, the model
and a 1 s crop), ``whole`` (one forward pass over the clip, as before the
rule) and ``windowed`` (the default ``MAX_SECONDS`` rule).
Prints peak resident memory and time per mode.

    python -m benchmarks.long_audio_memory --minutes 10
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

KW = dict(
    input_size=80,
    channels=[256, 256, 256, 256, 768],
    kernel_sizes=[5, 3, 3, 3, 1],
    dilations=[1, 2, 3, 4, 1],
    attention_channels=128,
    lin_neurons=192,
)


def _measure(model_dir, wav, mode):
    from speechbrain_emoinv.evaluation.embedding import embed_rows
    from speechbrain_emoinv.pretrained import load_model

    torch.set_num_threads(2)
    model = load_model(model_dir)
    n = sf.info(wav).frames
    stop = 16000 if mode == "first_1s" else -1  # baseline: load + 1 s
    rows = [dict(ID="long", wav=wav, start=0, stop=stop, duration=n / 16000)]
    t0 = time.time()
    embed_rows(model, rows, 1, max_seconds=1e9 if mode == "whole" else None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak:.0f} {time.time() - t0:.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        _measure(*args.measure)
        return
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    from speechbrain_emoinv.export.folder import export_pretrained

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        model_dir = export_pretrained(tmp / "m", ECAPA_TDNN(**KW), KW)
        wav = tmp / "long.wav"
        n = int(args.minutes * 60 * 16000)
        noise = np.random.default_rng(0).standard_normal(n) * 0.1
        sf.write(wav, noise.astype("float32"), 16000, subtype="PCM_16")
        print(f"# {args.minutes:g}-minute WAV, ECAPA-TDNN {KW['channels']}")
        print("| mode | peak RSS (MB) | seconds |")
        print("| --- | --- | --- |")
        for mode in ("first_1s", "whole", "windowed"):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(model_dir)]
                + [str(wav), mode],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            print(f"| {mode} | {out[-2]} | {out[-1]} |")


if __name__ == "__main__":
    main()
