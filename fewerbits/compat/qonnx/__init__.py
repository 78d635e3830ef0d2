"""Workarounds for qonnx (version pinned in requirements.lock)."""
