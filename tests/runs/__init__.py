"""Tests of the runs (scan, check, regrade) against fakes."""
