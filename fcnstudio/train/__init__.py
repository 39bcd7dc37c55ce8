"""Training: torch lives only here. Never imports Qt."""
