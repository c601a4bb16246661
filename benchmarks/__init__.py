"""Benchmarks of speechbrain-emoinv: scripts run from the repository root
as ``python -m benchmarks.<script>`` (e.g. ``python -m benchmarks.ablation
--aggregate-only``), on top of the shared machinery:

- ``benchmarks.runner``: recipe runs and their outputs, resuming, lanes,
  the lock of a pass, the git commit of finished runs;
- ``benchmarks.stats``: mean and spread over seeds, paired t-intervals,
  the paired bootstrap of EER changes;
- ``benchmarks.report``: Markdown cells and tables.

Results go to ``benchmarks/results/``.
"""
