"""What a training run checks before it works, and what it leaves behind.

- :func:`check_run_settings`: settings that cannot give a trained model
  (no epochs, empty batches, a learning rate that is not a positive
  number, another sample rate than the corpora's) stop the run before any
  work.
- :func:`output_lock`: one run per output folder at a time. The lock is
  ``fcntl.flock`` on ``run.lock`` in the folder, which the kernel releases
  when the process ends however it ends (a killed run leaves no stale
  lock).
- :func:`check_same_config`: an output folder that holds a run (finished
  or not) of another resolved config is refused, never continued and
  relabelled.
- :func:`mark_complete` / :func:`incomplete`: a completion record written
  last, with the export's fingerprint, so that a cached run is reused only
  when it finished and its export is the one it wrote.
- :func:`check_training_manifest`: every row's audio is checked before
  step 1 (missing, empty, unreadable, other rate, several channels, beyond
  the file's end, NaN or inf samples); the first bad row is named with its
  manifest row, the others counted.

Authors
 * speechbrain-emoinv contributors 2026
"""

import contextlib
import fcntl
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from speechbrain_emoinv.atomic_files import error_cause, write_text
from speechbrain_emoinv.data.manifest import (
    EmptyManifestError,
    file_stamp,
    read_manifest,
)
from speechbrain_emoinv.finetune import checkpoint_source
from speechbrain_emoinv.metrics import parse_operating_point
from speechbrain_emoinv.pretrained import model_fingerprint

logger = logging.getLogger(__name__)
LOCK_FILE = "run.lock"
COMPLETE_FILE = "run_complete.json"
RECORD_FILE = "hyperparams.yaml"
# Keys that change how a run is carried out, not what it trains.
RUN_KEYS = ("ckpt_fallback", "ckpt_interval_minutes", "ckpt_interval_steps")
_HELD = {}  # lock path -> open file, for nested use in one process


class RunError(Exception):
    """A run that cannot be right: the recipe prints it as one line."""


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_run_settings(hparams, config="the config"):
    """Raises :class:`RunError` for settings that cannot train a model.

    Arguments
    ---------
    hparams : dict
        The loaded config.
    config : str
        Its file, named in the error.

    Example
    -------
    >>> ok = {"number_of_epochs": 2, "lr": 0.001, "sample_rate": 16000,
    ...       "dataloader_options": {"batch_size": 4}}  # fmt: skip
    >>> check_run_settings(ok)
    >>> check_run_settings(dict(ok, number_of_epochs=0))
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.run_guard.RunError: the config: number_of_epochs must be a whole number >= 1, got 0 (nothing would be trained)
    >>> check_run_settings(dict(ok, lr="nan"))
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.run_guard.RunError: the config: lr must be a finite number > 0, got 'nan'
    >>> check_run_settings(dict(ok, rehearsal_pairs=True))
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.run_guard.RunError: the config: rehearsal_pairs needs rehearsal_annotation (the real voices it would pair)
    >>> check_run_settings(dict(ok, pretrained_path="results/typo/pretrained"))
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.run_guard.RunError: the config: pretrained_path results/typo/pretrained: no such folder or file, and not a hub id (owner/name)
    """
    from speechbrain_emoinv.data.audio_checks import TARGET_SR

    epochs = hparams.get("number_of_epochs")
    if not (_number(epochs) and epochs == int(epochs) and epochs >= 1):
        raise RunError(
            f"{config}: number_of_epochs must be a whole number >= 1, got "
            f"{epochs!r} (nothing would be trained)"
        )
    for key in ("dataloader_options", "valid_dataloader_options"):
        size = hparams.get(key, {}).get("batch_size", 1)
        if not (_number(size) and size == int(size) and size >= 1):
            raise RunError(
                f"{config}: {key} batch_size must be a whole number >= 1, "
                f"got {size!r}"
            )
    lr = hparams.get("lr")
    if not (_number(lr) and math.isfinite(lr) and lr > 0):
        raise RunError(f"{config}: lr must be a finite number > 0, got {lr!r}")
    rate = hparams.get("sample_rate")
    if rate != TARGET_SR:
        raise RunError(
            f"{config}: sample_rate must be {TARGET_SR} (the rate the "
            f"preparers write and the models are trained at), got {rate!r}"
        )
    try:
        parse_operating_point(hparams.get("operating_point", "eer"))
    except ValueError as err:
        raise RunError(f"{config}: {err}") from None
    if hparams.get("rehearsal_pairs") and not hparams.get(
        "rehearsal_annotation"
    ):
        raise RunError(
            f"{config}: rehearsal_pairs needs rehearsal_annotation (the real "
            "voices it would pair)"
        )
    if hparams.get("pretrained_path"):  # a mistyped path: before any work
        try:
            checkpoint_source(hparams["pretrained_path"])
        except FileNotFoundError as err:
            raise RunError(f"{config}: pretrained_path {err}") from None


@contextlib.contextmanager
def output_lock(folder, wait=False):
    """Holds the run lock of an output folder (main process only).

    Arguments
    ---------
    folder : str or Path
        Output folder (created if missing).
    wait : bool
        Wait for a run that holds it (a shared stage-1 cache), instead of
        raising :class:`RunError`.

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> with output_lock(d):
    ...     with output_lock(d):  # nested in the same process: held once
    ...         (d / LOCK_FILE).is_file()
    True
    """
    from speechbrain.utils.distributed import if_main_process

    path = os.path.abspath(os.path.join(folder, LOCK_FILE))
    if path in _HELD or not if_main_process():
        yield
        return
    os.makedirs(folder, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            if not wait:
                raise RunError(
                    f"{folder}: another run (process {holder}) is using this "
                    "output folder: wait for it to end, or give another "
                    "--output_folder"
                ) from None
            logger.info("Waiting for process %s to finish %s", holder, folder)
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        _HELD[path] = lock
        try:
            yield
        finally:
            del _HELD[path]


class _Tagged(yaml.SafeLoader):
    """Loads HyperPyYAML text as plain data, tags kept as ``{"!tag": x}``."""


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return {f"!{suffix}": value}


_Tagged.add_multi_constructor("!", _tagged)


def config_changes(old_text, new_text):
    """Top-level keys whose resolved values differ (comments, key order
    and :data:`RUN_KEYS` aside).

    Arguments
    ---------
    old_text, new_text : str
        Resolved configs (``hyperparams.yaml`` of the folder, and now).

    Returns
    -------
    list of str
        ``key: old -> new`` for plain values, ``key`` for objects.

    Example
    -------
    >>> old = "lr: 0.1  # peak\\nopt: !name:torch.optim.Adam\\n  lr: 0.1\\n"
    >>> config_changes(old, old.replace("0.1", "0.5"))
    ['lr: 0.1 -> 0.5', 'opt']
    >>> config_changes(old, "# other comment\\n" + old)
    []
    """
    old = yaml.load(old_text, Loader=_Tagged) or {}
    new = yaml.load(new_text, Loader=_Tagged) or {}
    changed = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key), new.get(key)
        if key in RUN_KEYS or a == b:
            continue
        if (
            key == "pretrained_path"
            and a is None
            and old.get("pretrain_config")
        ):
            continue  # recorded before the stage-1 folder was recorded
        plain = not any(isinstance(v, dict) for v in (a, b))
        changed.append(f"{key}: {a!r} -> {b!r}" if plain else key)
    return sorted(changed, key=lambda c: ":" not in c)


def check_same_config(folder, resolved, checkpointer):
    """Refuses an output folder that holds a run of another config.

    A run that stopped before its first checkpoint (its preparation or a
    check of the data failed, e.g. ``out_n_neurons``) trained nothing to
    keep: its folder is taken over, so the corrected command runs there.

    Arguments
    ---------
    folder : str or Path
        Output folder.
    resolved : str
        The resolved config of this run (what ``hyperparams.yaml`` of the
        folder will hold).
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The run's checkpointer (its folder's checkpoints).

    Raises
    ------
    RunError
        Naming the folder and the changed keys.

    Example
    -------
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> d = getfixture("tmp_path")
    >>> ckpt = Checkpointer(d / "save")
    >>> check_same_config(d, "lr: 0.1\\n", ckpt)  # a new folder
    >>> _ = (d / RECORD_FILE).write_text("lr: 0.1\\n")
    >>> check_same_config(d, "lr: 0.5\\n", ckpt)  # nothing trained yet
    >>> _ = ckpt.save_checkpoint()
    >>> check_same_config(d, "lr: 0.5\\n", ckpt)
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.run_guard.RunError: ...: holds a run of another config (lr: 0.1 -> 0.5): give another --output_folder, or delete this one to train it anew
    """
    record = Path(folder) / RECORD_FILE
    if not record.is_file() or not checkpointer.list_checkpoints():
        return
    changed = config_changes(record.read_text(encoding="utf-8"), resolved)
    if changed:
        more = f", and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise RunError(
            f"{folder}: holds a run of another config "
            f"({', '.join(changed[:4])}{more}): give another "
            "--output_folder, or delete this one to train it anew"
        )


def mark_complete(folder, export):
    """Writes the completion record of a run (last, atomically).

    Arguments
    ---------
    folder : str or Path
        Output folder.
    export : str or Path
        The run's exported model folder.
    """
    record = {"export": str(export), "fingerprint": model_fingerprint(export)}
    write_text(Path(folder) / COMPLETE_FILE, json.dumps(record) + "\n")


def clear_complete(folder):
    """Removes the completion record (a run starts in the folder)."""
    (Path(folder) / COMPLETE_FILE).unlink(missing_ok=True)


def incomplete(folder, export):
    """Why a run's export cannot be reused, or None when it can.

    Arguments
    ---------
    folder : str or Path
        Output folder of the run.
    export : str or Path
        Its exported model folder.

    Returns
    -------
    str or None

    Example
    -------
    >>> incomplete(getfixture("tmp_path"), "pretrained")
    'no completion record (a new or interrupted run)'
    """
    path = Path(folder) / COMPLETE_FILE
    if not path.is_file():
        return "no completion record (a new or interrupted run)"
    try:
        fingerprint = model_fingerprint(export)
    except FileNotFoundError:
        fingerprint = None
    if json.loads(path.read_text()).get("fingerprint") != fingerprint:
        return f"{export} is not the export its completion record names"
    return None


def _audio_problem(row, sample_rate, checked):
    """What is wrong with a manifest row's audio, or None."""
    wav = row["wav"]
    stamp = file_stamp(wav)
    if stamp is None:
        return "missing"
    if stamp[0] == 0:
        return "empty (0 bytes)"
    try:
        info = sf.info(wav)
    except Exception as err:  # soundfile raises several types
        return f"unreadable ({error_cause(err)})"
    if info.samplerate != sample_rate:
        return f"{info.samplerate} Hz, not {sample_rate}"
    if info.channels != 1:
        return f"{info.channels} channels, not mono"
    if int(row["stop"]) > info.frames:
        return f"stop {row['stop']} beyond its {info.frames} samples"
    if checked.get(wav) != stamp:
        if not np.isfinite(sf.read(wav, dtype="float32")[0]).all():
            return "NaN or inf samples"
        checked[wav] = stamp
    return None


def check_training_manifest(path, sample_rate, cache=None):
    """Checks every row's audio before training; names the bad rows.

    Headers are read for every row (``soundfile.info``); the samples are
    read once per file to find NaN or inf, and files found finite are
    remembered in ``cache`` by (size, mtime), so a rerun reads only
    changed files.

    Arguments
    ---------
    path : str or Path
        Manifest CSV (the ``ID``, ``wav``, ``start``, ``stop``, ``spk_id``,
        ``emotion`` columns).
    sample_rate : int
        The rate the recipe reads.
    cache : str or Path or None
        JSON file of the files found finite (written atomically).

    Raises
    ------
    RunError
        An empty manifest, or the first bad row (file, row number, ID,
        audio file, what is wrong) and the number of others.

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> sf.write(d / "a.wav", np.ones((1600, 2)) * 0.1, 16000)
    >>> _ = (d / "m.csv").write_text(
    ...     "ID,wav,start,stop,spk_id,emotion\\n"
    ...     f"u1,{d / 'a.wav'},0,1600,s1,neutral\\n"
    ... )
    >>> check_training_manifest(d / "m.csv", 16000)
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.run_guard.RunError: ...m.csv row 1 (ID u1): .../a.wav: 2 channels, not mono; ...
    """
    try:
        rows = read_manifest(path, strict=False)
    except EmptyManifestError as err:
        raise RunError(f"{err}: nothing to train on") from None
    checked = {}
    if cache and Path(cache).is_file():
        checked = json.loads(Path(cache).read_text())
    bad = []
    for number, row in enumerate(rows, 1):
        problem = _audio_problem(row, sample_rate, checked)
        if problem:
            bad.append(f"{path} row {number} (ID {row['ID']}): {row['wav']}: ")
            bad[-1] += problem
    if cache:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        write_text(cache, json.dumps(checked))
    if bad:
        more = f" (and {len(bad) - 1} more bad rows)" if len(bad) > 1 else ""
        raise RunError(
            f"{bad[0]}{more}; fix the manifest, or make it with a prepare "
            "function (which converts to 16 kHz mono and skips bad audio)"
        )
