-- question: Which misconfigurations (finding codes of the catalogue) are common?
-- counts: domains (distinct domains with at least one finding of the code) and,
--   separately labelled, mx_hosts (distinct host names the code was reported on; domain-level
--   findings have no host) and findings (rows: one per domain, or per domain and host);
--   pct_of_domains is out of all domains scanned in that scan
-- param scan = null: scan id to restrict to; null = every scan
-- param severity = null: only findings of this severity (error, warning, info); null = all
WITH scanned AS (
    SELECT scan_id, count(*) AS scanned FROM domains GROUP BY scan_id
)
SELECT
    f.scan_id,
    f.code,
    max(f.severity) AS severity,
    max(f.rfc) AS rfc,
    count(DISTINCT f.domain) AS domains,
    round(100.0 * count(DISTINCT f.domain) / nullif(any_value(s.scanned), 0), 2) AS pct_of_domains,
    count(DISTINCT f.host) AS mx_hosts,
    count(*) AS findings
FROM findings f
LEFT JOIN scanned s USING (scan_id)
JOIN scan_order o USING (scan_id)
WHERE ($scan::VARCHAR IS NULL OR f.scan_id = $scan::VARCHAR)
  AND ($severity::VARCHAR IS NULL OR f.severity = $severity::VARCHAR)
GROUP BY f.scan_id, o.scan_no, f.code
ORDER BY o.scan_no, domains DESC, f.code;
