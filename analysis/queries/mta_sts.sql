-- question: How do MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) sit next to DANE?
-- counts: domains that accept mail (verdict not nxdomain / no_mail / dns_error), one row
--   per scan x MTA-STS state x DANE group:
--   mta_sts = enforce | testing | none (the policy's mode), policy_error (a _mta-sts
--     record is published but no valid policy could be read over HTTPS), absent;
--   dane = dane_working (dane_valid, dane_degraded, dane_partial), dane_failing
--     (dane_broken, dane_unusable, dnssec_bogus), no_dane (everything else);
--   domains, pct_of_mail_domains (share of the scan's mail-accepting domains),
--   with_tlsrpt (domains publishing a TLS-RPT rua), mx_not_covered (policies whose mx
--   patterns miss an MX host: mail to that host fails in enforce mode).
-- param scan = null: scan id to restrict to; null = every scan
WITH d AS (
    SELECT
        scan_id,
        CASE
            WHEN mta_sts_mode <> '' THEN mta_sts_mode
            WHEN coalesce(mta_sts_error, '') <> '' THEN 'policy_error'
            ELSE 'absent'
        END AS mta_sts,
        CASE
            WHEN verdict IN ('dane_valid', 'dane_degraded', 'dane_partial') THEN 'dane_working'
            WHEN verdict IN ('dane_broken', 'dane_unusable', 'dnssec_bogus') THEN 'dane_failing'
            ELSE 'no_dane'
        END AS dane,
        tlsrpt_rua,
        mta_sts_covers_mx
    FROM domains
    WHERE ($scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR)
      AND verdict NOT IN ('nxdomain', 'no_mail', 'dns_error')
)
SELECT
    scan_id,
    mta_sts,
    dane,
    count(*) AS domains,
    round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY scan_id), 2)
        AS pct_of_mail_domains,
    count(*) FILTER (WHERE tlsrpt_rua <> '') AS with_tlsrpt,
    count(*) FILTER (WHERE mta_sts_covers_mx = false) AS mx_not_covered
FROM d
JOIN scan_order o USING (scan_id)
GROUP BY scan_id, mta_sts, dane, o.scan_no
ORDER BY o.scan_no, domains DESC, mta_sts, dane;
