"""Tests of scanner.store (laid out like the code)."""
