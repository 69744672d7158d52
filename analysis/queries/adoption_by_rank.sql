-- question: Is adoption higher among the most popular domains? The adoption funnel for the
--   top 1k / 10k / 100k / 1M domains of a ranked input list (such as Tranco).
-- counts: domains with a rank (cumulative buckets: the top 10k include the top 1k), per
--   scan; stages as in the funnel query: accept_mail (verdict not nxdomain / no_mail /
--   dns_error), signed_mx (and a DNSSEC-secure MX RRset), tlsa_published (and DANE applies
--   to at least one MX host), dane_valid (verdict dane_valid); defer_or_bounce = what a
--   DANE-enforcing sender does with mail for them. The pct_ columns are shares of the
--   bucket's domains. A bucket is shown only when a rank of the scan exceeds the previous
--   bucket's limit (a list of 5,000 domains has a top 1k and a top 10k, nothing more);
--   scans without ranks have no rows.
-- param scan = null: scan id to restrict to; null = every scan
WITH buckets AS (
    SELECT * FROM (VALUES (1, 'top 1k', 1000, 0), (2, 'top 10k', 10000, 1000),
                          (3, 'top 100k', 100000, 10000), (4, 'top 1M', 1000000, 100000))
        AS b(bucket_no, bucket, max_rank, previous_limit)
),
d AS (
    SELECT
        scan_id,
        rank,
        verdict NOT IN ('nxdomain', 'no_mail', 'dns_error') AS accept_mail,
        mx_status = 'secure' AS signed,
        verdict IN ('dane_valid', 'dane_degraded', 'dane_partial', 'dane_unusable',
                    'dane_broken', 'unverified') AS tlsa,
        verdict = 'dane_valid' AS valid,
        mail_outcome = 'defer_or_bounce' AS defers
    FROM domains
    WHERE rank IS NOT NULL AND ($scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR)
),
ranked_scans AS (
    SELECT scan_id, max(rank) AS top_rank FROM d GROUP BY scan_id
),
per_bucket AS (
    SELECT
        s.scan_id, b.bucket_no, b.bucket, b.max_rank,
        count(d.rank) AS domains,
        count(*) FILTER (WHERE d.accept_mail) AS accept_mail,
        count(*) FILTER (WHERE d.accept_mail AND d.signed) AS signed_mx,
        count(*) FILTER (WHERE d.accept_mail AND d.signed AND d.tlsa) AS tlsa_published,
        count(*) FILTER (WHERE d.accept_mail AND d.signed AND d.tlsa AND d.valid) AS dane_valid,
        count(*) FILTER (WHERE d.defers) AS defer_or_bounce
    FROM ranked_scans s
    JOIN buckets b ON s.top_rank > b.previous_limit
    LEFT JOIN d ON d.scan_id = s.scan_id AND d.rank <= b.max_rank
    GROUP BY s.scan_id, b.bucket_no, b.bucket, b.max_rank
)
SELECT
    p.scan_id,
    p.bucket,
    p.max_rank,
    p.domains,
    p.accept_mail,
    p.signed_mx,
    p.tlsa_published,
    p.dane_valid,
    p.defer_or_bounce,
    round(100.0 * p.signed_mx / nullif(p.domains, 0), 2) AS pct_signed_mx,
    round(100.0 * p.tlsa_published / nullif(p.domains, 0), 2) AS pct_tlsa_published,
    round(100.0 * p.dane_valid / nullif(p.domains, 0), 2) AS pct_dane_valid,
    round(100.0 * p.defer_or_bounce / nullif(p.domains, 0), 2) AS pct_defer_or_bounce
FROM per_bucket p
JOIN scan_order o USING (scan_id)
ORDER BY o.scan_no, p.bucket_no;
