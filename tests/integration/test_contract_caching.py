"""Contract of caching: a cache is reused exactly when nothing that shapes
its content changed.

- Stage 1 (``results/pretrain/<key>``): trained again when a key that
  shapes its training changes, in its config or in any ``base:`` file of
  the chain; reused when the change cannot reach it (a ``base:`` key its
  config overrides).
- Evaluation embeddings (``<cache>/<model key>/<manifest key>.pt``):
  computed again when the audio, the manifest, the weights or the model's
  hyperparameters change; reused when only what is scored changes (trial
  lists) or the model card.
- The model fingerprint follows the weights and hyperparameters, not the
  folder's place, card or cohort.
- Prepared folders: prepared again when an option that shapes them, the
  audio or the markup changes; skipped otherwise.

Reuse and recomputation are observed (trainings, embedding passes and
preparations counted), never inferred from the keys' code.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fake_corpora import make_cremad
from recipe_utils import ROOT
from ruamel.yaml import YAML
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv import stages
from speechbrain_emoinv.data.prepare_cremad import prepare_cremad
from speechbrain_emoinv.evaluation import embedding as embedding_module
from speechbrain_emoinv.evaluation.run import run_evaluation
from speechbrain_emoinv.pretrained import model_fingerprint
from speechbrain_emoinv.run_guard import mark_complete


def _edit(path, *keys, value):
    """Sets ``keys`` (a path into the YAML tree) to ``value``, keeping the
    file's tags and comments."""
    yaml = YAML()
    tree = yaml.load(path.read_text())
    node = tree
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    with open(path, "w") as fout:
        yaml.dump(tree, fout)


@pytest.fixture
def stage1(tmp_path, monkeypatch):
    """Copies of hparams/pretrain.yaml and its base emoinv.yaml, and
    ``train(config)`` -> (stage-1 folder, whether it trained), with the
    recipe's training replaced by writing the export's checkpoint."""
    hparams = tmp_path / "hparams"
    hparams.mkdir()
    for name in ("emoinv.yaml", "pretrain.yaml"):
        shutil.copy(ROOT / "hparams" / name, hparams / name)
        # Written as _edit writes (ruamel moves the comments that follow
        # a tagged mapping), so that an edit changes the value alone.
        yaml = YAML()
        yaml.dump(yaml.load(hparams / name), hparams / name)
    trained = []

    def fake_run(config, run_opts, overrides, *recipe):
        folder = Path(overrides["output_folder"])
        export = folder / "pretrained"
        export.mkdir(parents=True)
        (export / "embedding_model.ckpt").write_text("weights")
        (export / "hyperparams.yaml").write_text("a: 1\n")
        mark_complete(folder, export)  # a finished run's last act
        trained.append(config)

    monkeypatch.setattr(stages, "run", fake_run)

    def train(config):
        before = len(trained)
        folder = stages.stage1_folder(str(config), tmp_path / "cache")
        export = stages.pretrained_stage1(str(config), folder, {}, None, None)
        return Path(export).parent, len(trained) > before

    return hparams, train


# (file, path of the key, new value): keys that shape stage-1 training
TRAINING_KEYS = [
    ("emoinv.yaml", ("seed",), 7),
    ("emoinv.yaml", ("sentence_len",), 1.5),
    ("emoinv.yaml", ("batch_size",), 8),
    ("emoinv.yaml", ("base_lr",), 0.0001),
    ("emoinv.yaml", ("aam_margin",), 0.3),
    ("emoinv.yaml", ("ecapa_channels",), [128, 128, 128, 128, 384]),
    ("emoinv.yaml", ("emb_dim",), 128),
    ("emoinv.yaml", ("real_sources",), ["tuxpaint", "asterisk"]),
    ("emoinv.yaml", ("use_augment",), False),
    ("emoinv.yaml", ("average_last_n",), 2),
    ("emoinv.yaml", ("speed_perturb", "speeds"), [90, 100, 110]),
    ("emoinv.yaml", ("drop_chunk", "drop_count_high"), 3),
    ("pretrain.yaml", ("lr",), 0.001),
    ("pretrain.yaml", ("number_of_epochs",), 4),
    ("pretrain.yaml", ("sim_styles",), "neutral"),
]
# keys of the base that pretrain.yaml sets itself: edits never reach it
OVERRIDDEN_KEYS = [
    ("emoinv.yaml", ("lr",), 0.001),
    ("emoinv.yaml", ("number_of_epochs",), 5),
    ("emoinv.yaml", ("use_pairs",), False),
    ("emoinv.yaml", ("out_n_neurons",), 40),
    ("emoinv.yaml", ("experiment",), "other"),
]


@pytest.mark.parametrize(
    "name, keys, value",
    TRAINING_KEYS + OVERRIDDEN_KEYS,
    ids=lambda x: ".".join(x) if isinstance(x, tuple) else None,
)
def test_stage1_trained_again_exactly_when_its_config_changes(
    stage1, name, keys, value
):
    hparams, train = stage1
    config = hparams / "pretrain.yaml"
    first, did_train = train(config)
    assert did_train
    assert train(config) == (first, False), "an unchanged config retrains"
    _edit(hparams / name, *keys, value=value)
    folder, did_train = train(config)
    if (name, keys, value) in OVERRIDDEN_KEYS:
        assert (folder, did_train) == (first, False), "retrained for nothing"
    else:
        assert did_train and folder != first, "a stale stage 1 is reused"


def test_stage1_trained_again_for_a_new_corpus_generator(stage1, monkeypatch):
    """Stage 1 trains on simulated voices too: audio that a new generator
    version renders otherwise is another stage 1, whatever the config."""
    hparams, train = stage1
    first, _ = train(hparams / "pretrain.yaml")
    monkeypatch.setattr(
        stages, "GENERATOR_VERSION", stages.GENERATOR_VERSION + 1
    )
    second, did_train = train(hparams / "pretrain.yaml")
    assert did_train and second != first, "a stage 1 of other audio is reused"


def test_stage1_kept_when_only_comments_change(stage1):
    """A comment is not a setting: editing one in a base file keeps the
    trained stage 1."""
    hparams, train = stage1
    first, _ = train(hparams / "pretrain.yaml")
    emoinv = hparams / "emoinv.yaml"
    emoinv.write_text("# a note\n" + emoinv.read_text().replace("# ", "#  "))
    assert train(hparams / "pretrain.yaml") == (first, False)


def test_stage1_key_follows_a_chain_of_base_files(stage1):
    """A row that starts from pretrain.yaml (which starts from
    emoinv.yaml): an edit two links up reaches it."""
    hparams, train = stage1
    row = hparams / "row.yaml"
    row.write_text("base: pretrain.yaml\nlr: 0.003\n")
    first, _ = train(row)
    _edit(hparams / "emoinv.yaml", "ecapa_attention", value=32)
    second, did_train = train(row)
    assert did_train and second != first
    _edit(hparams / "emoinv.yaml", "lr", value=0.1)  # the row sets lr
    assert train(row) == (second, False)


@pytest.fixture
def toy(tmp_path):
    data = make_toy_data(tmp_path / "d", n_train=2, n_eval=2, n_sentences=2)
    return data, make_toy_model(tmp_path / "m", threshold=0.5)


def _later(path):
    """Moves a file's mtime 1 s on (a rewrite within the clock's
    resolution would otherwise keep it)."""
    ns = os.stat(path).st_mtime_ns + 10**9
    os.utime(path, ns=(ns, ns))


def test_embedding_cache_follows_audio_and_model_not_scoring(
    toy, tmp_path, monkeypatch
):
    data, model = toy
    passes = []
    real = embedding_module.embed_manifest

    def counted(model_, rows, *args, **kwargs):
        passes.append([r["ID"] for r in rows])
        return real(model_, rows, *args, **kwargs)

    monkeypatch.setattr(embedding_module, "embed_manifest", counted)
    cache = tmp_path / "cache"

    def evaluate():
        passes.clear()
        out = tmp_path / "out"
        shutil.rmtree(out, ignore_errors=True)
        run_evaluation(model, data, out, cache_dir=cache, plots=False,
                       probe=False, log=lambda *a: None)  # fmt: skip
        return len(passes)

    assert evaluate() == 2  # the evaluation split and the cohort
    assert evaluate() == 0
    # what is scored, and the card: no embedding changes
    merged = data / "trials" / "eval" / "merged.txt"
    merged.write_text("".join(merged.read_text().splitlines(True)[:-3]))
    (model / "README.md").write_text("another card\n")
    assert evaluate() == 0
    # one evaluation file rewritten: same size, other samples
    rows = (data / "eval.csv").read_text().splitlines()
    wav = Path(rows[1].split(",")[2])
    audio, rate = sf.read(wav, dtype="float32")
    sf.write(wav, audio[::-1].copy(), rate)
    _later(wav)
    assert evaluate() == 1
    # other weights; then other hyperparameters with the same weights
    state = torch.load(model / "embedding_model.ckpt", weights_only=True)
    state = {
        k: v * 1.01 if v.is_floating_point() else v for k, v in state.items()
    }
    torch.save(state, model / "embedding_model.ckpt")
    assert evaluate() == 2
    hparams = model / "hyperparams.yaml"
    text = hparams.read_text()
    assert text.count("std_norm: False") == 1
    hparams.write_text(text.replace("std_norm: False", "std_norm: True"))
    assert evaluate() == 2


def test_model_fingerprint_follows_weights_and_hyperparameters(toy, tmp_path):
    _, model = toy
    key = model_fingerprint(model)
    copy = tmp_path / "elsewhere"
    shutil.copytree(model, copy)
    (copy / "README.md").write_text("another card\n")
    torch.save({"ids": ["a", "b"], "emb": torch.ones(2, 4)},
               copy / "cohort_embeddings.pt")  # fmt: skip
    assert model_fingerprint(copy) == key
    for name, old, new in (
        ("hyperparams.yaml", "std_norm: False", "std_norm: True"),
        ("hyperparams.yaml", "sample_rate: 16000", "sample_rate: 8000"),
    ):
        edited = tmp_path / f"edit_{len(old)}_{new[-4:]}"
        shutil.copytree(model, edited)
        path = edited / name
        path.write_text(path.read_text().replace(old, new, 1))
        assert model_fingerprint(edited) != key, (name, new)
    other = tmp_path / "other"
    shutil.copytree(model, other)
    state = torch.load(other / "embedding_model.ckpt", weights_only=True)
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = state[first] + 1e-3
    torch.save(state, other / "embedding_model.ckpt")
    assert model_fingerprint(other) != key


@pytest.fixture
def cremad(tmp_path):
    make_cremad(tmp_path / "C")
    return tmp_path / "C"


def _prepared_again(corpus, save, caplog, **options):
    caplog.clear()
    caplog.set_level("INFO")
    prepare_cremad(corpus, save, **options)
    return "already prepared" not in caplog.text


@pytest.mark.parametrize(
    "option, value",
    [
        ("seed", 99),
        ("n_trials", 100),
        ("hard_fraction", 1.0),
        ("valid_fraction", 0.3),
        ("eval_fraction", 0.3),
        ("eval_speakers", ["cremad-1001"]),
        ("on_bad_audio", "error"),
    ],
)
def test_prepared_folder_follows_options(
    cremad, tmp_path, caplog, option, value
):
    save = tmp_path / "p"
    assert _prepared_again(cremad, save, caplog)
    assert not _prepared_again(cremad, save, caplog)
    assert not _prepared_again(cremad, save, caplog, num_workers=2)
    assert _prepared_again(cremad, save, caplog, **{option: value})


def test_prepared_folder_follows_audio_and_markup(cremad, tmp_path, caplog):
    save = tmp_path / "p"
    assert _prepared_again(cremad, save, caplog)
    # an audio file rewritten: same size, other samples
    wav = sorted((cremad / "AudioWAV").glob("*.wav"))[0]
    audio, rate = sf.read(wav, dtype="int16")
    sf.write(wav, np.roll(audio, 100), rate, subtype="PCM_16")
    _later(wav)
    assert _prepared_again(cremad, save, caplog)
    # the markup: an actor's gender
    demo = cremad / "VideoDemographics.csv"
    demo.write_text(demo.read_text().replace("1001,30,Male", "1001,30,Female"))
    assert _prepared_again(cremad, save, caplog)
    assert not _prepared_again(cremad, save, caplog)
