"""danescan: measure DNSSEC and DANE-for-SMTP deployment (RFC 7672) at scale."""

__version__ = "0.1.0"
