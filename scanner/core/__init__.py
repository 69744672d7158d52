"""The pure core: facts in, judgement out (DESIGN §4; STYLE §1-2).

What must live here: the fact and judgement types (``model``), name hygiene
(``names``), the DNSSEC status of an answer (``dnssec``), the MX set (``mxset``),
TLSA parsing and the RFC 7672 §2.2.2 base-domain walk (``tlsa``), certificate
matching (``certs``), the assessment of one host (``hosts``), the findings catalogue
(``findings``), the domain rules (``rules``), MTA-STS / TLS-RPT parsing (``mtasts``),
the sans-IO SMTP dialogue (``smtp``), the opt-out list (``blocklist``) and facts
JSON (``factjson``). No sockets, event loop, processes or clock reads: time is an
argument. ``scanner/core/ruff.toml`` enforces that; nothing else lists it.
"""
