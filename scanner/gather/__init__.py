"""The fact gatherers (trio I/O): one question or connection in, one fact out.

What must live here: the validating-resolver client (``resolve``, with its reply view
``dnsreply`` and codecs ``dnswire``), the SMTP STARTTLS probe (``probe``, TLS over
memory BIOs in ``tlsio``), the MTA-STS policy fetch (``policyfetch``), the
once-per-scan shared work (``shared``) and the per-domain gatherer (``domain``), which
asks the questions in the order the core's rules need them. A peer's behaviour is a
value in the facts, never an exception. Imports point down to ``scanner.core`` only
(``scanner/gather/ruff.toml``).
"""
