#!/usr/bin/env python3
"""Writes README.md's Results section from the committed benchmark outputs.

Reads only committed files:

    benchmarks/results/ablation/summary.json      (benchmarks/ablation.py)
    benchmarks/results/reference_resemblyzer.json (reference_resemblyzer.py)
    benchmarks/results/cost.json                  (benchmarks/bench_cost.py)
    benchmarks/results/tuning/summary.json        (benchmarks/tuning.py)

and replaces the text between ``<!-- results:start -->`` and
``<!-- results:end -->`` in README.md (adding both markers under a
``## Results`` heading before ``## Licence notes`` when absent). Nothing
else in README.md is touched. Missing inputs are reported as such.

Usage::

    .venv/bin/python benchmarks/make_results_section.py [--print]

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablation import BASELINES, LISTS, ROWS, emotion_table, fmt  # noqa: E402
from tuning import table as tuning_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
RUN_CMD = "nohup .venv/bin/python benchmarks/ablation.py >> results/ablation.log 2>&1 &"


def _load(path):
    return json.loads(path.read_text()) if path.is_file() else None


def _seed_status(summary):
    counts = {r: summary["rows"][r]["n_seeds"] for r in ROWS}
    done = min(counts.values())
    full = max(counts.values())
    if done == full == 3:
        return "All rows have their 3 seeds (1, 2, 3)."
    parts = [
        f"{summary['rows'][r]['label']}: seeds "
        f"{', '.join(map(str, summary['rows'][r]['seeds'])) or 'none'}"
        for r in ROWS
    ]
    return (
        "**Partial benchmark** (planned: seeds 1, 2, 3 for every row, run "
        "seed-major). Finished so far — "
        + "; ".join(parts)
        + ". The benchmark resumes where it stopped with the same command "
        "(finished runs are skipped, a cut-off run restarts from its last "
        "epoch checkpoint); this section is regenerated from its outputs."
    )


def ablation_section(summary):
    """The ablation table in Markdown."""
    norm = summary["norms"][1]
    lines = [
        "| Row | seeds | neutral | cross | emo_emo | merged | merged "
        "minDCF@0.01 | gap cross − neutral | "
        + " | ".join(f"Δ merged vs {name}" for name in BASELINES.values())
        + " | emotion-probe acc. |",
        "|---|---|" + "---|" * (7 + len(BASELINES)),
    ]
    for scoring in ("cosine", norm):
        for row in ROWS:
            entry = summary["rows"][row]
            name = f"{entry['label']}, {scoring}"
            if not entry["n_seeds"]:
                lines.append(f"| {name} | 0 |" + " – |" * (7 + len(BASELINES)))
                continue
            cells = [fmt(entry["lists"][lst][scoring]["eer"]) for lst in LISTS]
            cells.append(
                fmt(entry["lists"]["merged"][scoring]["min_dcf@0.01"], 3)
            )
            cells.append(fmt(entry["emotion_gap"][scoring], sign=True))
            for base in BASELINES:
                stat = entry["relative_merged_eer_change"][base][scoring]
                if row == base:
                    cells.append("(reference)")
                elif stat["n"]:
                    cells.append(f"{fmt(stat, 1, sign=True)} % (n={stat['n']})")
                else:
                    cells.append("–")
            cells.append(
                fmt(entry["probe_accuracy"], 3) if scoring == "cosine" else ""
            )
            lines.append(
                f"| {name} | {entry['n_seeds']} | " + " | ".join(cells) + " |"
            )
    return lines


def goal_lines(summary, row="emoinv", base="baseline_equal_budget"):
    """The issue's goal, checked on the measured numbers (cosine).

    Goal: merged EER at least 30 % lower than the equal-budget baseline,
    by more than 2 standard deviations over seeds, and the emotion gap
    halved.
    """
    entry, ref = summary["rows"][row], summary["rows"][base]
    if not entry["n_seeds"] or not ref["n_seeds"]:
        return []
    rel = entry["relative_merged_eer_change"][base]["cosine"]
    gap, gap_ref = entry["emotion_gap"]["cosine"], ref["emotion_gap"]["cosine"]
    spread = rel["std"] if rel["std"] is not None else float("nan")

    def yes(flag):
        return "**met**" if flag else "**not met**"

    return [
        f"Against the goal ({entry['label']} vs {ref['label']}, cosine, "
        f"merged list, {rel['n']} paired seeds): relative EER change "
        f"{fmt(rel, 1, sign=True)} % — ≤ −30 %: {yes(rel['mean'] <= -30)}; "
        f"beyond 2 std of the paired change: "
        f"{yes(rel['std'] is not None and -rel['mean'] > 2 * spread)}; "
        f"emotion gap {fmt(gap, sign=True)} vs {fmt(gap_ref, sign=True)} "
        "points — halved: "
        f"{yes(gap['mean'] <= 0.5 * gap_ref['mean'])}.",
        "",
    ]


def tuning_lines(tuning):
    """The validation-speaker tuning table."""
    if tuning is None:
        return []
    return [
        "",
        "Tuning, on the **validation** speakers only (`python "
        "benchmarks/tuning.py`; the ablation's models re-scored on "
        "`trials/valid/*.txt`, plus the variants of "
        "`benchmarks/tuning/*.yaml` trained with the same seeds; cosine; "
        "Δ paired by seed against the defaults; the search and the values "
        "chosen: `benchmarks/tuning.md`):",
        "",
        *tuning_table(tuning),
    ]


def reference_line(ref, norm):
    """The Resemblyzer row of the table."""
    if ref is None:
        return []
    rows = []
    for scoring in ("cosine", norm):
        cells = [f"{ref['lists'][lst][scoring]['eer']:.2f}" for lst in LISTS]
        cells.append(f"{ref['lists']['merged'][scoring]['min_dcf@0.01']:.3f}")
        cells.append(f"{ref['emotion_gap'][scoring]:+.2f}")
        cells += ["–"] * len(BASELINES)
        probe = ref.get("leakage_probe") or {}
        cells.append(
            f"{probe['accuracy']:.3f}"
            if scoring == "cosine" and probe.get("accuracy") is not None
            else ""
        )
        rows.append(
            f"| Resemblyzer GE2E (external, not trained here), {scoring} "
            f"| – | " + " | ".join(cells) + " |"
        )
    return rows


def cost_lines(cost):
    """Training throughput and embedding speed."""
    if cost is None:
        return ["Cost: not measured yet (`benchmarks/bench_cost.py`)."]
    t = cost["training"]
    emb = cost["embedding"]
    load = cost["load_average_1min"]
    lines = [
        f"Cost (`{cost['command'].strip()}`, {cost['hardware']}, "
        f"{cost['wall_s']:.0f} s; 1-min load average {load['start']} at "
        f"start and {load['end']} at end, where above "
        f"{cost['hardware'].split()[0]} means other jobs competed; the "
        "configs were timed in alternating blocks of steps so that any "
        "load hits all alike; the fastest block and the CPU time per step "
        "are the least disturbed figures):",
        "",
        "| Config | samples/step | s/step all blocks | s/step fastest "
        "block | CPU s/step | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for config, row in t.items():
        lines.append(
            f"| {config} | {row['samples_per_step']} | "
            f"{row['seconds_per_step']:.3f} | "
            f"{row['best_block_seconds_per_step']:.3f} | "
            f"{row['cpu_seconds_per_step']:.3f} | {row['peak_rss_mb']:.0f} |"
        )
    ex, c512 = emb["exported"], emb["ecapa_c512"]
    lines += [
        "",
        "Training throughput ratio full method / baseline in samples/s "
        "(anchors + CopyPaste parallels): "
        f"{cost['throughput_ratio_samples']:.3f} over all blocks, "
        f"{cost['throughput_ratio_samples_best_block']:.3f} fastest block, "
        f"{cost['throughput_ratio_samples_cpu']:.3f} per CPU second; in "
        f"anchors/s: {cost['throughput_ratio_anchors']:.3f}, "
        f"{cost['throughput_ratio_anchors_best_block']:.3f}, "
        f"{cost['throughput_ratio_anchors_cpu']:.3f}.",
        "",
        f"Embedding real-time factor ({emb['torch_threads']} threads, "
        f"{ex['n_utterances']} evaluation utterances, {ex['audio_s']:.0f} s "
        "of audio, best of 3 passes): exported default model "
        f"(`{ex['model_dir']}`, {ex['n_parameters'] / 1e6:.2f} M "
        f"parameters, {ex['checkpoint_mb']:.1f} MB) "
        f"{ex['real_time_factor']:.4f} one utterance per call, "
        f"{ex['batched']['real_time_factor']:.4f} in batches of "
        f"{ex['batched']['batch_size']}; ECAPA-TDNN C = 512 "
        f"({c512['n_parameters'] / 1e6:.2f} M parameters, {c512['note']}) "
        f"{c512['real_time_factor']:.4f} and "
        f"{c512['batched']['real_time_factor']:.4f}.",
    ]
    if cost.get("metrics_speed"):
        lines.append(
            "Metrics speed: see `" + cost["metrics_speed"]["file"] + "`."
        )
    else:
        lines.append(
            "Metrics speed (`benchmarks/bench_metrics.py`): not saved yet."
        )
    return lines


def section():
    """The whole Results section body (between the markers)."""
    summary = _load(RESULTS / "ablation" / "summary.json")
    ref = _load(RESULTS / "reference_resemblyzer.json")
    cost = _load(RESULTS / "cost.json")
    lines = [
        "",
        "_Generated by `benchmarks/make_results_section.py` from the "
        "committed outputs in `benchmarks/results/`; do not edit by hand._",
        "",
    ]
    if summary is None:
        return "\n".join(lines + ["No benchmark output yet.", ""])
    norm = summary["norms"][1]
    walls = [
        f"{summary['rows'][r]['label']} "
        f"{summary['rows'][r]['wall_s']['mean'] / 60:.0f} min"
        for r in ROWS
        if summary["rows"][r]["n_seeds"]
    ]
    lines += [
        "**Simulated data.** Every number below comes from the generated "
        "default corpus (`data/mbrola_default`: espeak-ng + MBROLA "
        "diphone voices, one per speaker, with rule-based emotional styles "
        "of F0, tempo, energy and voice colour; made by the recipe), not "
        "from real emotional speech; it shows the pipeline works end to "
        "end and "
        "how the rows compare on this toy task, nothing about real-world "
        "accuracy.",
        "",
        f"- Command: `{RUN_CMD}` (each run: `python "
        "train_speaker_embeddings.py hparams/<row>.yaml --seed=S "
        "--output_folder=results/ablation/<row>/S`, training on the "
        "training speakers, checkpoint selection on the validation "
        "speakers, then export and evaluation on the evaluation "
        "speakers' lists).",
        f"- Hardware: {'; '.join(summary['hardware'])}; other jobs shared "
        "the machine at times (and runs were paused while the cost "
        "benchmark ran), so wall times are upper bounds; CPU minutes per "
        "run are in `summary.md`. Total "
        f"wall time so far {summary['total_wall_s'] / 60:.0f} min; mean "
        "per run: " + ", ".join(walls) + ".",
        f"- {_seed_status(summary)}",
        "",
        f"EER % on the evaluation lists (mean ± std over seeds), cosine and "
        f"{norm} scoring ({summary['best_norm_rule']}); Δ = relative merged "
        "EER change against each baseline, paired by seed (negative = "
        "better); emotion-probe accuracy = speaker-disjoint linear probe "
        "predicting the emotion from the embedding (lower = less emotion "
        "leakage; chance "
        + (
            f"{summary['rows']['baseline']['probe_chance']:.3f}"
            if summary["rows"]["baseline"].get("probe_chance")
            else "n/a"
        )
        + ").",
        "",
    ]
    lines += goal_lines(summary)
    lines += goal_lines(summary, "ablation_no_augment", "baseline_no_augment")
    lines += ablation_section(summary)
    lines += reference_line(ref, norm)
    lines += [
        "",
        "EER % by test emotion with neutral enrolment (cosine, cells of the "
        "merged list's enrolment × test emotion matrix), and the mean "
        "cosine of same-speaker embedding pairs of the same emotion minus "
        "that of different emotions (0 = emotion-invariant):",
        "",
        *emotion_table([summary["rows"][r] for r in ROWS]),
    ]
    lines += tuning_lines(_load(RESULTS / "tuning" / "summary.json"))
    lines += [""]
    if ref is not None:
        lines += [
            "The Resemblyzer rows: "
            + ref["system"]
            + f"; scored by `{ref['command']}` with the same lists, "
            "cohort and metrics.",
            "",
        ]
    lines += cost_lines(cost)
    figs = RESULTS / "ablation" / "emoinv" / "seed1"
    if (figs / "det.png").is_file():
        lines += [
            "",
            "Full method, seed 1, evaluation speakers (cosine): DET curves "
            "per list and EER by enrolment × test emotion.",
            "",
            "![DET](benchmarks/results/ablation/emoinv/seed1/det.png)",
            "![EER matrix](benchmarks/results/ablation/emoinv/seed1/"
            "eer_matrix.png)",
        ]
    lines += [
        "",
        "Per-run details (command, wall and CPU time, per-epoch validation "
        "EER, full metric tables): `benchmarks/results/ablation/<row>/"
        "seed<S>/`; tables: `benchmarks/results/ablation/summary.md`; "
        "tuning protocol: `benchmarks/tuning.md`.",
        "",
    ]
    return "\n".join(lines)


def update_readme(body):
    """Replaces the text between the markers (adds them when absent)."""
    text = README.read_text()
    if START not in text or END not in text:
        block = f"## Results\n\n{START}\n{END}\n\n"
        anchor = "## Licence notes"
        if anchor in text:
            text = text.replace(anchor, block + anchor, 1)
        else:
            text = text.rstrip("\n") + "\n\n" + block
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(head + START + "\n" + body + END + tail)


def main(argv=None):
    """Builds the section; writes README.md unless ``--print``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args(argv)
    body = section()
    if args.print:
        print(body)
    else:
        update_readme(body)
        print(body)


if __name__ == "__main__":
    main()
