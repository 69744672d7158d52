-- question: Which mail providers serve the most domains, and what is their DANE status?
--   Provider = registered domain of the MX host name (Public Suffix List, offline).
-- counts: domains served per provider (a domain with MX hosts at several providers counts
--   once for each, so the column does not add up to the domains scanned), split by the
--   domain's verdict (each of those domains once); mx_hosts and mx_hosts_with_tlsa count
--   distinct MX host names of the provider (with_tlsa: a DNSSEC-secure, non-empty TLSA
--   RRset found for the host)
-- param scan = null: scan id to restrict to; null = every scan
-- param top = 20: keep the providers serving the most domains (per scan); 0 = all
WITH served AS (
    SELECT DISTINCT m.scan_id, p.provider, m.domain
    FROM domain_mx m
    JOIN providers p ON p.host = m.host
    WHERE $scan::VARCHAR IS NULL OR m.scan_id = $scan::VARCHAR
),
by_provider AS (
    SELECT
        s.scan_id,
        s.provider,
        count(*) AS domains,
        count(*) FILTER (WHERE d.verdict = 'dane_valid') AS dane_valid,
        count(*) FILTER (WHERE d.verdict IN ('dane_degraded', 'dane_partial')) AS dane_degraded_or_partial,
        count(*) FILTER (WHERE d.verdict IN ('dane_broken', 'dane_unusable', 'dnssec_bogus')) AS dane_or_dnssec_failing,
        count(*) FILTER (WHERE d.verdict = 'dnssec_no_dane') AS dnssec_no_dane,
        count(*) FILTER (WHERE d.verdict = 'insecure') AS insecure,
        count(*) FILTER (WHERE d.verdict NOT IN ('dane_valid', 'dane_degraded', 'dane_partial',
            'dane_broken', 'dane_unusable', 'dnssec_bogus', 'dnssec_no_dane', 'insecure')) AS other
    FROM served s
    JOIN domains d ON d.scan_id = s.scan_id AND d.domain = s.domain
    GROUP BY s.scan_id, s.provider
),
provider_hosts AS (
    SELECT
        h.scan_id,
        p.provider,
        count(DISTINCT h.host) AS mx_hosts,
        count(DISTINCT h.host) FILTER (WHERE h.tlsa_status = 'secure' AND h.tlsa_records > 0)
            AS mx_hosts_with_tlsa
    FROM (SELECT DISTINCT scan_id, host FROM domain_mx) m
    JOIN hosts h ON h.scan_id = m.scan_id AND h.host = m.host
    JOIN providers p ON p.host = h.host
    GROUP BY h.scan_id, p.provider
),
ranked AS (
    SELECT b.*,
           row_number() OVER (PARTITION BY b.scan_id ORDER BY b.domains DESC, b.provider) AS provider_rank
    FROM by_provider b
)
SELECT
    r.scan_id,
    r.provider_rank,
    r.provider,
    r.domains,
    r.dane_valid,
    round(100.0 * r.dane_valid / r.domains, 2) AS pct_dane_valid,
    r.dane_degraded_or_partial,
    r.dane_or_dnssec_failing,
    r.dnssec_no_dane,
    r.insecure,
    r.other,
    coalesce(ph.mx_hosts, 0) AS mx_hosts,
    coalesce(ph.mx_hosts_with_tlsa, 0) AS mx_hosts_with_tlsa
FROM ranked r
LEFT JOIN provider_hosts ph USING (scan_id, provider)
JOIN scan_order o USING (scan_id)
WHERE $top::INTEGER <= 0 OR r.provider_rank <= $top::INTEGER
ORDER BY o.scan_no, r.provider_rank;
