"""Workarounds for finn-plus (version pinned in requirements.lock) and its finn-rtllib sources."""
