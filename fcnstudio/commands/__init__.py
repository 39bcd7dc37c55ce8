"""One module per CLI command; each has ``run(args) -> int`` (the exit code)."""
