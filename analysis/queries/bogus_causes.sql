-- question: Why are bogus answers bogus? The first broken link of each chain of trust
--   (issue 11: expired or not-yet-valid signatures, a DS matching no key, a half-done
--   algorithm rollover, a signature that does not verify, a broken denial), counted
--   by the domains it breaks and by the zones where it is broken.
-- counts: per scan x diagnosis code: zones (distinct broken zones), questions (distinct
--   bogus (name, type) questions diagnosed), domains (distinct domains whose MX lookup,
--   an MX host's address or TLSA lookup, or MTA-STS/TLS-RPT lookup is such a question),
--   bogus_domains (of those, domains whose verdict is dnssec_bogus), example_zone.
--   A domain counts once per cause; a domain with two causes counts under both.
-- param scan = null: scan id to restrict to; null = every scan
WITH d AS (
    SELECT scan_id, name, rrtype, code, zone
    FROM dnssec_diagnoses
    WHERE ($scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR) AND broken
),
asked AS (  -- the names each domain's lookups were about
    SELECT scan_id, domain, verdict, domain AS name FROM domains
    UNION ALL
    SELECT scan_id, domain, verdict, '_mta-sts.' || domain FROM domains
    UNION ALL
    SELECT scan_id, domain, verdict, '_smtp._tls.' || domain FROM domains
    UNION ALL
    SELECT m.scan_id, m.domain, dm.verdict, m.host FROM domain_mx m
    JOIN domains dm USING (scan_id, domain)
    UNION ALL
    SELECT m.scan_id, m.domain, dm.verdict, '_25._tcp.' || coalesce(m.tlsa_base, m.host)
    FROM domain_mx m JOIN domains dm USING (scan_id, domain)
),
hit AS (
    SELECT DISTINCT d.scan_id, d.code, a.domain, a.verdict
    FROM d JOIN asked a ON a.scan_id = d.scan_id AND a.name = d.name
)
SELECT
    d.scan_id,
    d.code,
    count(DISTINCT d.zone) AS zones,
    count(DISTINCT (d.name, d.rrtype)) AS questions,
    (SELECT count(*) FROM hit h WHERE h.scan_id = d.scan_id AND h.code = d.code) AS domains,
    (SELECT count(*) FROM hit h WHERE h.scan_id = d.scan_id AND h.code = d.code
        AND h.verdict = 'dnssec_bogus') AS bogus_domains,
    min(d.zone) AS example_zone
FROM d
JOIN scan_order o USING (scan_id)
GROUP BY d.scan_id, o.scan_no, d.code
ORDER BY o.scan_no, domains DESC, d.code;
