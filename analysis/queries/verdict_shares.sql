-- question: Which verdicts (DESIGN §4) do the scanned domains get, and in what share?
-- counts: domains (each scanned domain once per scan, under its one verdict)
-- param scan = null: scan id to restrict to; null = every scan
SELECT
    d.scan_id,
    d.verdict,
    count(*) AS domains,
    round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY d.scan_id), 2) AS pct_of_domains
FROM domains d
JOIN scan_order o USING (scan_id)
WHERE $scan::VARCHAR IS NULL OR d.scan_id = $scan::VARCHAR
GROUP BY d.scan_id, o.scan_no, d.verdict
ORDER BY o.scan_no, domains DESC, d.verdict;
