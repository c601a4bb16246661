"""Evaluation of an exported model: embed, score, tables, plots, probe.

``run_evaluation(model_dir, data_dir, out_dir, split="eval", ...)`` is the
entry point (also behind ``emoinv-eval``); it knows the exported folder,
never the training Brain.
"""

from speechbrain_emoinv.evaluation.run import run_evaluation
