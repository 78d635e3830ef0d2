"""The base layer: configuration, errors, on-disk artifacts, file helpers, comparison, reports.

Everything here is imported by the stages (``train/``, ``export/``, ``hw/``) and by the
orchestration layer (pipeline, sweep, verification ladder, CLI); nothing here imports a stage or
the orchestration layer (``tests/test_architecture.py`` fails if it does). Upstream workarounds
live beside it in :mod:`fewerbits.compat`, also base.
"""
