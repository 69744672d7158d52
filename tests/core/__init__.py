"""Tests of scanner.core (laid out like the code)."""
