"""Helpers to run the recipe script in a subprocess on the tiny corpus."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train_speaker_embeddings.py"
TINY = ROOT / "tests" / "hparams" / "tiny.yaml"
# One tiny corpus for the whole suite (generation is deterministic and
# resumable, so a stale copy is repaired rather than trusted).
TINY_DATA = ROOT / "tests" / "tmp" / "mbrola_tiny"


def recipe_cmd(config=TINY, *overrides, torchrun=0, script=SCRIPT):
    """Command line for the recipe with ``--key=value`` overrides."""
    launcher = [sys.executable]
    if torchrun:
        launcher += [
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={torchrun}",
        ]
    return [
        *launcher,
        str(script),
        str(config),
        f"--data_folder={TINY_DATA}",
        "--device=cpu",
        *overrides,
    ]


def run_recipe(
    config=TINY, *overrides, torchrun=0, timeout=600, script=SCRIPT, env=None
):
    """Runs the recipe to the end; returns its combined output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    proc = subprocess.run(
        recipe_cmd(config, *overrides, torchrun=torchrun, script=script),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(
            f"recipe failed ({proc.returncode}):\n{out[-6000:]}"
        )
    return out


def train_log(output_folder):
    """Lines of SpeechBrain's train_log.txt."""
    return (Path(output_folder) / "train_log.txt").read_text().splitlines()
