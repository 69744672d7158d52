"""danescan analysis: named DuckDB queries, reports and the commands that read scans."""
