"""The recipe's compute_forward / compute_objectives, watched by spies.

A Brain built from the tiny config runs one training forward on a
hand-made batch; forward hooks record what CopyPaste, the generic
augmentation, the features, emotion-aware masking (EM), the encoder and
the loss receive and return. Each switch -- use_pairs, independent_crop,
use_em, use_augment, pair_weight -- must change exactly what it names.
"""

import sys

import numpy as np
import pytest
import soundfile as sf
import speechbrain as sb
import torch
from recipe_utils import ROOT, TINY
from speechbrain.dataio.batch import PaddedBatch

from speechbrain_emoinv.config import load_config

sys.path.insert(0, str(ROOT))
import train_speaker_embeddings as recipe  # noqa: E402

B = 3  # anchors


class Batch:
    """The fields of SpeechBrain's PaddedBatch the recipe reads."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def to(self, device):
        return self


# CopyPaste's paper mode: it reads a twin (the default `partner` does not).
CONCAT = (
    "copypaste: !new:speechbrain_emoinv.copypaste.CopyPaste {mode: concat}\n"
)


def make_batch(seed=0, rehearsal=False, twin=False):
    """Random audio: every sample value tells its source and row (with
    ``rehearsal``, one real-voice crop per anchor and its partner; with
    ``twin``, the twins too). A field the recipe reads but the batch lacks
    fails, as in SpeechBrain's PaddedBatch."""
    g = torch.Generator().manual_seed(seed)

    def padded(n, lengths):
        wavs = 0.1 * torch.randn(n, max(lengths), generator=g)
        for i, n_i in enumerate(lengths):
            wavs[i, n_i:] = 0.0
        return wavs, torch.tensor(lengths) / max(lengths)

    fields = {}
    if rehearsal:
        fields = dict(
            rehearsal_sig=padded(B, [8000, 18000, 16000]),
            rehearsal_partner_sig=padded(B, [10000, 16000, 15000]),
            rehearsal_spk_id_encoded=(
                torch.tensor([[4], [3], [4]]),
                torch.ones(B),
            ),
        )
    if twin:
        fields["twin_sig"] = padded(B, [15000, 16000, 9000])
    if twin and rehearsal:
        fields["rehearsal_twin_sig"] = padded(B, [16000, 7000, 12000])
    return Batch(
        id=[f"u{i}" for i in range(B)],
        sig=padded(B, [16000, 12000, 14000]),
        # narrower than the anchors, not a whole number of 10-ms frames
        partner_sig=padded(B, [15050, 11000, 13000]),
        spk_id_encoded=(torch.tensor([[2], [0], [1]]), torch.ones(B)),
        **fields,
    )


class Spy:
    """Records (args, output) of each call of a module or a method (and
    the keyword arguments in ``kwargs``)."""

    def __init__(self):
        self.calls, self.kwargs = [], []

    def hook(self, module, args, kwargs, output):
        self.calls.append((args, output))
        self.kwargs.append(kwargs)

    def watch(self, module):
        module.register_forward_hook(self.hook, with_kwargs=True)

    def wrap(self, fn):
        def recorded(*args):
            out = fn(*args)
            self.calls.append((args, out))
            return out

        return recorded


def make_brain(overrides=""):
    hparams, _ = load_config(str(TINY), overrides)
    if hparams["use_augment"]:  # its noise and RIR lists (made once)
        hparams["prepare_augment"]()
    # Every parallel sample masked, so that a mask is seen in every row.
    hparams["emotion_masking"].prob = 1.0
    brain = recipe.EmoInvBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
    )
    watched = dict(
        copypaste=hparams["copypaste"],
        augment=hparams["wav_augment"],
        em=hparams["emotion_masking"],
        cost=hparams["compute_cost"],
        encoder=brain.modules.embedding_model,
    )
    spies = {name: Spy() for name in [*watched, "features"]}
    for name, module in watched.items():
        spies[name].watch(module)
    brain.features = spies["features"].wrap(brain.features)
    return brain, spies


def n_calls(spies):
    return {name: len(spy.calls) for name, spy in spies.items()}


def trimmed(wavs, lens):
    """Valid samples of each row of a padded batch."""
    n = torch.round(lens * wavs.shape[1]).long()
    return [w[:k] for w, k in zip(wavs, n, strict=True)]


def assert_rows(wavs, lens, expected):
    """``wavs`` holds ``expected`` rows (valid samples), zero-padded."""
    rows = trimmed(wavs, lens)
    assert len(rows) == len(expected)
    for i, (got, want) in enumerate(zip(rows, expected, strict=True)):
        assert torch.equal(got, want), i
        assert not wavs[i, len(want) :].any(), f"row {i} padding"


def forward(brain, batch, grad=False):
    torch.manual_seed(0)
    with torch.set_grad_enabled(grad):
        return brain.compute_forward(batch, sb.Stage.TRAIN)


def test_full_method():
    brain, spies = make_brain("use_augment: False")
    batch = make_batch()
    forward(brain, batch)
    assert n_calls(spies) == dict(
        copypaste=1, augment=0, em=1, cost=0, encoder=1, features=1
    )
    # CopyPaste `partner`: parallel i is partner i, whole (no twin read).
    (base, _, partner, partner_lens), (clean, clean_lens) = spies[
        "copypaste"
    ].calls[0]
    assert base is batch.sig[0]
    assert partner is batch.partner_sig[0]
    assert partner_lens is batch.partner_sig[1]
    assert_rows(clean, clean_lens, trimmed(*batch.partner_sig))
    # Features of [anchors; parallels], in that order.
    (wavs, lens), feats = spies["features"].calls[0]
    assert_rows(wavs, lens, trimmed(*batch.sig) + trimmed(clean, clean_lens))
    # EM gets the parallels' features and their clean waveforms, padded
    # as the features' waveforms are (so that frames map one to one) ...
    (em_feats, em_wavs, em_lens, em_feat_lens), masked = spies["em"].calls[0]
    assert torch.equal(em_feats, feats[B:])
    assert torch.equal(em_wavs, wavs[B:]) and torch.equal(em_lens, lens[B:])
    assert torch.equal(em_feat_lens, lens[B:])
    # ... and the encoder the anchors untouched, the parallels masked.
    (enc_feats, enc_lens), _ = spies["encoder"].calls[0]
    assert torch.equal(enc_feats[:B], feats[:B])
    assert torch.equal(enc_feats[B:], masked)
    assert torch.equal(enc_lens, lens)
    for i in range(B):
        assert not torch.equal(masked[i], feats[B + i]), f"row {i} unmasked"


def test_concat_pastes_twin_and_partner():
    brain, spies = make_brain(CONCAT + "use_augment: False")
    batch = make_batch(twin=True)
    forward(brain, batch)
    # CopyPaste builds parallel i from twin i and partner i, 30-70 % each.
    (twin, twin_lens, partner, _), (clean, clean_lens) = spies[
        "copypaste"
    ].calls[0]
    assert twin is batch.twin_sig[0] and twin_lens is batch.twin_sig[1]
    assert partner is batch.partner_sig[0]
    sources = zip(
        trimmed(clean, clean_lens),
        trimmed(*batch.twin_sig),
        trimmed(*batch.partner_sig),
        strict=True,
    )
    for i, (out, own, other) in enumerate(sources):
        from_own, from_other = torch.isin(out, own), torch.isin(out, other)
        assert (from_own | from_other).all(), f"row {i}: foreign samples"
        assert 0.25 < float(from_other.double().mean()) < 0.75, i


def test_shared_crop_pastes_into_the_anchor():
    brain, spies = make_brain(
        CONCAT + "use_augment: False\nindependent_crop: False"
    )
    batch = make_batch()
    forward(brain, batch)
    (base, base_lens, partner, _), _ = spies["copypaste"].calls[0]
    assert base is batch.sig[0] and base_lens is batch.sig[1]
    assert partner is batch.partner_sig[0]


@pytest.mark.parametrize(
    "mode, independent_crop, rehearsal_pairs",
    [
        ("partner", True, False),
        ("partner", True, True),
        ("concat", True, True),
        ("concat", False, False),
        ("anchor", True, False),
    ],
)
def test_real_batches_hold_what_the_forward_reads(
    tmp_path, mode, independent_crop, rehearsal_pairs
):
    """The recipe's own dataio_prep and SpeechBrain's PaddedBatch: a twin
    is read exactly when CopyPaste uses it."""
    lines = ["ID,duration,wav,start,stop,spk_id,emotion"]
    rng = np.random.default_rng(0)
    for uid, spk, emo in [
        ("a1", "a", "neutral"),
        ("a2", "a", "angry"),
        ("b1", "b", "neutral"),
        ("b2", "b", "sad"),
    ]:
        wav = tmp_path / f"{uid}.wav"
        sf.write(wav, 0.1 * rng.standard_normal(24000), 16000)
        lines.append(f"{uid},1.5,{wav},0,24000,{spk},{emo}")
    csv = tmp_path / "train.csv"
    csv.write_text("\n".join(lines) + "\n")
    brain, spies = make_brain(
        "copypaste: !new:speechbrain_emoinv.copypaste.CopyPaste "
        f"{{mode: {mode}}}\nuse_augment: False\n"
        f"independent_crop: {independent_crop}\n"
        f"rehearsal_annotation: {csv if rehearsal_pairs else 'null'}\n"
        f"rehearsal_pairs: {rehearsal_pairs}"
    )
    hparams = vars(brain.hparams)
    hparams.update(
        train_annotation=str(csv),
        valid_annotation=str(csv),
        save_folder=str(tmp_path),
    )
    train, _ = recipe.dataio_prep(hparams)
    batch = PaddedBatch([train[i] for i in range(4)])
    forward(brain, batch)
    reads_twin = mode != "partner" and independent_crop
    assert hasattr(batch, "twin_sig") == reads_twin
    assert hasattr(batch, "rehearsal_twin_sig") == (
        reads_twin and rehearsal_pairs
    )
    (base, base_lens, _, _), _ = spies["copypaste"].calls[0]
    anchors = [batch.sig] + ([batch.rehearsal_sig] if rehearsal_pairs else [])
    if reads_twin:
        anchors = [batch.twin_sig]
        if rehearsal_pairs:
            anchors.append(batch.rehearsal_twin_sig)
    assert_rows(base, base_lens, sum((trimmed(*a) for a in anchors), []))


def test_without_em_nothing_is_masked():
    brain, spies = make_brain("use_augment: False\nuse_em: False")
    forward(brain, make_batch())
    assert n_calls(spies) == dict(
        copypaste=1, augment=0, em=0, cost=0, encoder=1, features=1
    )
    _, feats = spies["features"].calls[0]
    (enc_feats, _), _ = spies["encoder"].calls[0]
    assert enc_feats.shape[0] == 2 * B and torch.equal(enc_feats, feats)


def test_without_pairs_only_anchors():
    brain, spies = make_brain("use_augment: False\nuse_pairs: False")
    batch = make_batch()
    outputs, embeddings = forward(brain, batch)
    assert n_calls(spies) == dict(
        copypaste=0, augment=0, em=0, cost=0, encoder=1, features=1
    )
    (wavs, lens), feats = spies["features"].calls[0]
    assert_rows(wavs, lens, trimmed(*batch.sig))
    (enc_feats, _), _ = spies["encoder"].calls[0]
    assert torch.equal(enc_feats, feats)
    assert outputs.shape[0] == embeddings.shape[0] == B


def test_augmentation_sees_both_halves_em_the_clean_parallels():
    brain, spies = make_brain()
    batch = make_batch()
    forward(brain, batch)
    assert n_calls(spies) == dict(
        copypaste=1, augment=1, em=1, cost=0, encoder=1, features=1
    )
    _, (clean, clean_lens) = spies["copypaste"].calls[0]
    (aug_in, aug_lens), (aug_out, aug_out_lens) = spies["augment"].calls[0]
    assert_rows(
        aug_in, aug_lens, trimmed(*batch.sig) + trimmed(clean, clean_lens)
    )
    (wavs, lens), feats = spies["features"].calls[0]
    assert wavs is aug_out and lens is aug_out_lens
    (em_feats, em_wavs, em_lens, em_feat_lens), _ = spies["em"].calls[0]
    assert torch.equal(em_feats, feats[B:])
    assert torch.equal(em_wavs, aug_in[B:])
    assert torch.equal(em_lens, aug_lens[B:])
    assert_rows(em_wavs, em_lens, trimmed(clean, clean_lens))
    assert torch.equal(em_feat_lens, lens[B:])


@pytest.mark.parametrize("use_pairs", [True, False])
def test_objectives(use_pairs):
    brain, spies = make_brain(
        f"use_augment: False\nuse_pairs: {use_pairs}\npair_weight: 0.5"
    )
    brain.init_optimizers()
    brain.optimizer_step = 2
    batch = make_batch()
    predictions = forward(brain, batch, grad=True)
    loss = brain.compute_objectives(predictions, batch, sb.Stage.TRAIN)
    # The loss trains the encoder and the classifier.
    loss.backward()
    for name in ("embedding_model", "classifier"):
        grads = [p.grad for p in brain.modules[name].parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    (outputs, spk, emb_anchor, emb_parallel), (total, parts) = spies[
        "cost"
    ].calls[0]
    assert spies["cost"].kwargs[0] == {"step": 2}
    _, embeddings = predictions
    assert outputs is predictions[0]
    labels = batch.spk_id_encoded[0]
    if use_pairs:
        assert torch.equal(spk, torch.cat([labels, labels]))
        assert torch.equal(emb_anchor, embeddings[:B])
        assert torch.equal(emb_parallel, embeddings[B:])
        # pair_weight 0.5, ramped over pair_warmup_steps (5 in tiny.yaml)
        assert float(parts["pair_weight"]) == pytest.approx(0.5 * 2 / 5)
    else:
        assert torch.equal(spk, labels)
        assert torch.equal(emb_anchor, embeddings)
        assert emb_parallel is None and float(parts["pair_weight"]) == 0.0
    assert loss is total
    means = brain.hparams.loss_parts.means()
    assert means["aam"] == pytest.approx(float(parts["aam"]))


REHEARSAL = "use_augment: False\nrehearsal_annotation: real.csv\n"


@pytest.mark.parametrize("use_pairs", [True, False])
def test_rehearsal_rows_follow_the_parallels_aam_only(use_pairs):
    brain, spies = make_brain(
        REHEARSAL + f"use_pairs: {use_pairs}\nout_n_neurons: 5"
    )
    brain.init_optimizers()
    batch = make_batch(rehearsal=True)
    predictions = forward(brain, batch, grad=True)
    brain.compute_objectives(predictions, batch, sb.Stage.TRAIN)
    # Every batch holds both kinds of rows: [anchors; parallels; real].
    parallels = []
    if use_pairs:
        parallels = trimmed(*spies["copypaste"].calls[0][1])
    (wavs, lens), feats = spies["features"].calls[0]
    real = trimmed(*batch.rehearsal_sig)
    assert_rows(wavs, lens, trimmed(*batch.sig) + parallels + real)
    assert brain.n_samples(B) == wavs.shape[0]
    # EM masks the parallels only; the real rows reach the encoder as is.
    (enc_feats, _), _ = spies["encoder"].calls[0]
    assert torch.equal(enc_feats[-B:], feats[-B:])
    if use_pairs:
        (em_feats, *_), _ = spies["em"].calls[0]
        assert torch.equal(em_feats, feats[B : 2 * B])
    # AAM sees the real rows' own labels; the pair loss never sees them.
    (_, spk, emb_anchor, emb_parallel), _ = spies["cost"].calls[0]
    labels = batch.spk_id_encoded[0]
    real_labels = batch.rehearsal_spk_id_encoded[0]
    own = [labels, labels] if use_pairs else [labels]
    assert torch.equal(spk, torch.cat([*own, real_labels]))
    _, embeddings = predictions
    assert torch.equal(emb_anchor, embeddings[:B])
    if use_pairs:
        assert torch.equal(emb_parallel, embeddings[B : 2 * B])


def test_rehearsal_pairs_join_the_anchors():
    brain, spies = make_brain(
        CONCAT + REHEARSAL + "rehearsal_pairs: True\nout_n_neurons: 5"
    )
    brain.init_optimizers()
    batch = make_batch(rehearsal=True, twin=True)
    predictions = forward(brain, batch, grad=True)
    brain.compute_objectives(predictions, batch, sb.Stage.TRAIN)
    # CopyPaste pastes the real rows' twins and partners after the anchors'.
    (twin, twin_lens, partner, partner_lens), (clean, clean_lens) = spies[
        "copypaste"
    ].calls[0]
    assert_rows(
        twin,
        twin_lens,
        trimmed(*batch.twin_sig) + trimmed(*batch.rehearsal_twin_sig),
    )
    assert_rows(
        partner,
        partner_lens,
        trimmed(*batch.partner_sig) + trimmed(*batch.rehearsal_partner_sig),
    )
    anchors = trimmed(*batch.sig) + trimmed(*batch.rehearsal_sig)
    (wavs, lens), _ = spies["features"].calls[0]
    assert_rows(wavs, lens, anchors + trimmed(clean, clean_lens))
    assert brain.n_samples(B) == wavs.shape[0] == 4 * B
    (_, spk, emb_anchor, emb_parallel), _ = spies["cost"].calls[0]
    both = torch.cat(
        [batch.spk_id_encoded[0], batch.rehearsal_spk_id_encoded[0]]
    )
    assert torch.equal(spk, torch.cat([both, both]))
    _, embeddings = predictions
    assert torch.equal(emb_anchor, embeddings[: 2 * B])
    assert torch.equal(emb_parallel, embeddings[2 * B :])


def test_l2sp_pulls_toward_the_starting_weights():
    brain, spies = make_brain("use_augment: False\nl2sp_alpha: 3.0")
    brain.init_optimizers()
    model = brain.hparams.embedding_model
    brain.hparams.l2sp.anchor(model)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    batch = make_batch()
    predictions = forward(brain, batch, grad=True)
    loss = brain.compute_objectives(predictions, batch, sb.Stage.TRAIN)
    (_, _, _, _), (total, parts) = spies["cost"].calls[0]
    # independently: alpha / 2 * sum of squared distances
    dist = sum(
        float((p - start[n]).pow(2).sum()) for n, p in model.named_parameters()
    )
    assert float(loss - total) == pytest.approx(1.5 * dist, rel=1e-4)
    assert brain.hparams.loss_parts.means()["l2sp"] == pytest.approx(
        1.5 * dist, rel=1e-4
    )


def test_bf16_casts_only_the_encoder():
    """Under --precision=bf16 the front end and the AAM classifier stay
    fp32; the encoder computes in bf16 and hands fp32 embeddings on."""
    brain, spies = make_brain("use_augment: False\nprecision: bf16")
    assert brain.precision == "bf16"
    with brain.training_ctx:
        outputs, embeddings = forward(brain, make_batch())
    _, feats = spies["features"].calls[0]
    _, masked = spies["em"].calls[0]
    _, encoded = spies["encoder"].calls[0]
    assert feats.dtype == masked.dtype == torch.float32
    assert encoded.dtype == torch.bfloat16
    assert embeddings.dtype == outputs.dtype == torch.float32


def test_native_precision_reads_the_cpu_flags(tmp_path, monkeypatch):
    from speechbrain_emoinv.precision import native_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert native_precision(cpuinfo) == "bf16"
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16x\n")
    assert native_precision(cpuinfo) == "fp32"
    assert native_precision(tmp_path / "absent") == "fp32"
