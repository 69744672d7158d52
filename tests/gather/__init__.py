"""Tests of scanner.gather (laid out like the code)."""
