"""Tests of analysis/ (queries, report, CLI) over synthetic and world scans."""
