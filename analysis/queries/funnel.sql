-- question: How far do domains get towards working DANE for SMTP? The adoption funnel
--   per scan: domains scanned → accept mail → signed MX → TLSA published → DANE valid.
-- counts: domains (each scanned domain once per scan; every stage is a subset of the one before)
--   accept_mail: a domain with MX hosts (explicit or implicit MX), i.e. verdict not
--     nxdomain / no_mail / dns_error (bogus domains included: they publish mail DNS);
--   signed_mx: of those, MX RRset DNSSEC-secure (mx_status = 'secure');
--   tlsa_published: of those, DANE applies to at least one MX host (a secure, non-empty
--     TLSA RRset): verdict dane_valid / dane_degraded / dane_partial / dane_unusable /
--     dane_broken / unverified; TLSA behind an unsigned MX RRset is not counted (RFC 7672);
--   dane_valid: verdict dane_valid (every MX host authenticates).
-- param scan = null: scan id to restrict to; null = every scan (one block of rows per scan)
WITH d AS (
    SELECT
        scan_id,
        verdict NOT IN ('nxdomain', 'no_mail', 'dns_error') AS accept_mail,
        mx_status = 'secure' AS signed,
        verdict IN ('dane_valid', 'dane_degraded', 'dane_partial', 'dane_unusable',
                    'dane_broken', 'unverified') AS tlsa,
        verdict = 'dane_valid' AS valid
    FROM domains
    WHERE $scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR
),
per_scan AS (
    SELECT
        scan_id,
        count(*) AS s1,
        count(*) FILTER (WHERE accept_mail) AS s2,
        count(*) FILTER (WHERE accept_mail AND signed) AS s3,
        count(*) FILTER (WHERE accept_mail AND signed AND tlsa) AS s4,
        count(*) FILTER (WHERE accept_mail AND signed AND tlsa AND valid) AS s5
    FROM d
    GROUP BY scan_id
),
stages AS (
    SELECT scan_id, 1 AS stage_no, 'domains scanned' AS stage, s1 AS domains, s1 AS total FROM per_scan
    UNION ALL SELECT scan_id, 2, 'accept mail', s2, s1 FROM per_scan
    UNION ALL SELECT scan_id, 3, 'signed MX', s3, s1 FROM per_scan
    UNION ALL SELECT scan_id, 4, 'TLSA published', s4, s1 FROM per_scan
    UNION ALL SELECT scan_id, 5, 'DANE valid', s5, s1 FROM per_scan
)
SELECT
    s.scan_id,
    s.stage_no,
    s.stage,
    s.domains,
    round(100.0 * s.domains / nullif(s.total, 0), 2) AS pct_of_domains_scanned
FROM stages s
JOIN scan_order o USING (scan_id)
ORDER BY o.scan_no, s.stage_no;
