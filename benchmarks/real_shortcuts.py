#!/usr/bin/env python3
"""Are language and bandwidth used as speaker cues? Measured on real voices.

In the real-voice sources, one volunteer reads each language and each
source has its own bandwidth, so a model can tell "speakers" apart by
language or by source. On the real evaluation voices (every pair of
utterances with different texts), per exported model:

* EER of all target pairs against same-language impostors vs against
  cross-language impostors (read voices): a model that learnt language
  finds same-language impostors much harder;
* mean impostor cosine for same-source vs cross-source pairs, and EER
  against each (all evaluation voices): a model that learnt bandwidth
  scores cross-source impostors much lower;
* Allison (Asterisk) reads English and Spanish: mean target cosine within
  a language vs across her two languages, and the EER of her
  cross-language targets against all read-voice impostors.

Usage::

    python -m benchmarks.real_shortcuts \\
        --model two_stage=results/emoinv/1986/pretrained \\
        --model stage1=results/pretrain/<key>/pretrained \\
        --model synthetic_only=results/emoinv_synthetic_only/1986/pretrained

Writes ``benchmarks/results/real_shortcuts.json`` and prints a table.

Authors: speechbrain-emoinv contributors
"""

import argparse
import json
from pathlib import Path

import numpy as np

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation.embedding import embed_rows
from speechbrain_emoinv.metrics import compute_eer
from speechbrain_emoinv.pretrained import load_model

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "benchmarks" / "results" / "real_shortcuts.json"


def pair_table(rows, emb):
    """Scores and attributes of every pair (i < j) with different texts."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    i, j = np.triu_indices(len(rows), k=1)

    def col(name):
        return np.array([r[name] for r in rows])

    text, spk = col("text_id"), col("spk_id")
    keep = text[i] != text[j]
    i, j = i[keep], j[keep]
    lang, corpus = col("lang"), col("corpus")
    return dict(
        score=np.einsum("nd,nd->n", emb[i], emb[j]),
        target=spk[i] == spk[j],
        same_lang=lang[i] == lang[j],
        same_source=corpus[i] == corpus[j],
        read=(corpus[i] != "fotaq") & (corpus[j] != "fotaq"),
        allison=(spk[i] == "asterisk-allison") & (spk[j] == "asterisk-allison"),
    )


def eer(p, impostors, targets=None):
    """EER (%) of ``targets`` (default: all targets) vs ``impostors``."""
    tar = p["target"] if targets is None else targets
    sel = tar | impostors
    return round(100 * compute_eer(p["score"][sel], tar[sel])[0], 2)


def measure(p):
    """The shortcut measurements of one model (see the module docstring)."""
    non, read = ~p["target"], p["read"]
    al = p["allison"]
    return {
        "eer_same_language_impostors": eer(
            p, non & read & p["same_lang"], p["target"] & read
        ),
        "eer_cross_language_impostors": eer(
            p, non & read & ~p["same_lang"], p["target"] & read
        ),
        "impostor_cosine_same_source": round(
            float(p["score"][non & p["same_source"]].mean()), 4
        ),
        "impostor_cosine_cross_source": round(
            float(p["score"][non & ~p["same_source"]].mean()), 4
        ),
        "eer_same_source_impostors": eer(p, non & p["same_source"]),
        "eer_cross_source_impostors": eer(p, non & ~p["same_source"]),
        "allison_target_cosine_same_language": round(
            float(p["score"][al & p["same_lang"]].mean()), 4
        ),
        "allison_target_cosine_en_vs_es": round(
            float(p["score"][al & ~p["same_lang"]].mean()), 4
        ),
        "allison_cross_language_eer": eer(p, non & read, al & ~p["same_lang"]),
    }


def main():
    """Embeds the real evaluation voices with each model and measures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--data", default=str(ROOT / "data/real/prepared"))
    args = ap.parse_args()
    rows = read_manifest(Path(args.data) / "eval.csv")
    out = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for spec in args.model:
        name, _, folder = spec.partition("=")
        model = load_model(folder)
        emb = embed_rows(model, rows).numpy()
        out[name] = dict(model=folder, **measure(pair_table(rows, emb)))
        print(f"{name}: {out[name]}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    keys = [k for k in next(iter(out.values())) if k != "model"]
    print("| measure | " + " | ".join(out) + " |")
    print("|---" * (len(out) + 1) + "|")
    for k in keys:
        print(f"| {k} | " + " | ".join(str(v[k]) for v in out.values()) + " |")


if __name__ == "__main__":
    main()
