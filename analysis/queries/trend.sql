-- question: How does adoption change from scan to scan (the funnel over time)?
-- counts: domains (each scanned domain once per scan); one row per scan, oldest first;
--   the pct_ columns are shares of the domains scanned in that scan (scans of different
--   input lists are not comparable: compare the input column of scan_metadata);
--   started_at is the scan's start, or its first domain's scanned_at when the scan's
--   scans row is missing, so that scans can be placed on a time axis
SELECT
    o.scan_no,
    d.scan_id,
    coalesce(o.started_at, min(d.scanned_at)) AS started_at,
    count(*) AS domains,
    count(*) FILTER (WHERE d.verdict NOT IN ('nxdomain', 'no_mail', 'dns_error')) AS accept_mail,
    count(*) FILTER (WHERE d.verdict NOT IN ('nxdomain', 'no_mail', 'dns_error')
                       AND d.mx_status = 'secure') AS signed_mx,
    count(*) FILTER (WHERE d.mx_status = 'secure' AND d.verdict IN ('dane_valid', 'dane_degraded',
                       'dane_partial', 'dane_unusable', 'dane_broken', 'unverified')) AS tlsa_published,
    count(*) FILTER (WHERE d.verdict = 'dane_valid') AS dane_valid,
    count(*) FILTER (WHERE d.mail_outcome = 'defer_or_bounce') AS defer_or_bounce,
    round(100.0 * count(*) FILTER (WHERE d.mx_status = 'secure' AND d.verdict NOT IN
                       ('nxdomain', 'no_mail', 'dns_error')) / count(*), 2) AS pct_signed_mx,
    round(100.0 * count(*) FILTER (WHERE d.mx_status = 'secure' AND d.verdict IN ('dane_valid',
                       'dane_degraded', 'dane_partial', 'dane_unusable', 'dane_broken',
                       'unverified')) / count(*), 2) AS pct_tlsa_published,
    round(100.0 * count(*) FILTER (WHERE d.verdict = 'dane_valid') / count(*), 2) AS pct_dane_valid,
    round(100.0 * count(*) FILTER (WHERE d.mail_outcome = 'defer_or_bounce') / count(*), 2)
        AS pct_defer_or_bounce
FROM domains d
JOIN scan_order o USING (scan_id)
GROUP BY o.scan_no, d.scan_id, o.started_at
ORDER BY o.scan_no;
