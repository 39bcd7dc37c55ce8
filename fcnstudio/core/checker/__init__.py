"""The label checker: what in a dataset would make a network predict only zeros.

- :mod:`.run` — :func:`~.run.check_dataset`, the parallel scan driver
- :mod:`.pair_stats` — the per-pair scan (decode, value histogram, flags) run in worker processes
- :mod:`.artefacts` — JPEG / interpolation damage of one mask
- :mod:`.encodings` — colours, palettes and luminance tables
- :mod:`.classes` — how stored values become classes, over the whole dataset
- :mod:`.stats` — :class:`~.stats.DatasetStats`, the class shares and suggested weights
- :mod:`.rules` — the findings built from the scan
- :mod:`.findings` — the :class:`~.findings.Finding` type, the codes and their JSON codec
- :mod:`.result` — :class:`~.result.CheckResult` and its fingerprint of the files
"""
