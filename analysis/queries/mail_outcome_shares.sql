-- question: What does a DANE-enforcing sender (Exchange Online with mandatory DANE,
--   Postfix at security level dane) do with mail for the scanned domains today, and
--   which error code does it report?
-- counts: domains (each scanned domain once per scan, under its mail_outcome and
--   error_code; error_code is '' when mail flows)
-- param scan = null: scan id to restrict to; null = every scan
SELECT
    d.scan_id,
    d.mail_outcome,
    coalesce(d.error_code, '') AS error_code,
    count(*) AS domains,
    round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY d.scan_id), 2) AS pct_of_domains
FROM domains d
JOIN scan_order o USING (scan_id)
WHERE $scan::VARCHAR IS NULL OR d.scan_id = $scan::VARCHAR
GROUP BY d.scan_id, o.scan_no, d.mail_outcome, coalesce(d.error_code, '')
ORDER BY o.scan_no, domains DESC, d.mail_outcome, error_code;
