"""The runs: the commands' work, composed from the layers below.

What must live here: the scan (``scan``), the readiness check of a few domains
(``check``), re-judging a stored scan (``regrade``) and the one wiring of resolver,
prober, policy fetch and gatherer they share (``wiring``). The CLI (``scanner.cli``)
parses options into these; nothing here parses a command line
(``scanner/runs/ruff.toml``).
"""
