-- question: How do verdicts differ between top-level domains?
-- counts: domains (each scanned domain once per scan, under the last label of its name
--   and its verdict); pct_of_tld is the share of that TLD's domains in that scan
-- param scan = null: scan id to restrict to; null = every scan
-- param top = 20: keep only the TLDs with the most domains (per scan); 0 = every TLD
WITH d AS (
    SELECT scan_id, split_part(domain, '.', -1) AS tld, verdict
    FROM domains
    WHERE $scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR
),
tld_sizes AS (
    SELECT scan_id, tld, count(*) AS tld_domains,
           row_number() OVER (PARTITION BY scan_id ORDER BY count(*) DESC, tld) AS tld_rank
    FROM d GROUP BY scan_id, tld
)
SELECT
    d.scan_id,
    d.tld,
    t.tld_domains,
    d.verdict,
    count(*) AS domains,
    round(100.0 * count(*) / t.tld_domains, 2) AS pct_of_tld
FROM d
JOIN tld_sizes t USING (scan_id, tld)
JOIN scan_order o USING (scan_id)
WHERE $top::INTEGER <= 0 OR t.tld_rank <= $top::INTEGER
GROUP BY d.scan_id, o.scan_no, d.tld, t.tld_domains, t.tld_rank, d.verdict
ORDER BY o.scan_no, t.tld_rank, domains DESC, d.verdict;
