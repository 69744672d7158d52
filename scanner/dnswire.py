"""Hand-written DNS codec for the resolver's hot path (placeholder: delegates to dnspython)."""

from __future__ import annotations

from scanner.resolve import DnspythonCodec


class FastCodec(DnspythonCodec):
    """Placeholder until the hand-written codec lands; behaves exactly as dnspython's."""
