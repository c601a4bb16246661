"""Maintenance scripts, run from the repository root as ``python -m
tools.<script>`` (e.g. ``python -m tools.flatten_hparams --check``), so
that they import the package and each other without path edits.
"""
