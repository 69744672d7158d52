-- question: Which DNSSEC algorithms sign the MX RRsets of the domains, and which algorithms
--   and DS digest types do their zones use (weak ones: RSAMD5, DSA, RSA/SHA-1, GOST;
--   SHA-1 DS digests)?
-- counts: domains with a DNSSEC-secure MX RRset (mx_status = 'secure'), per algorithm;
--   a domain whose records carry several algorithms counts under each, so a column does
--   not add up to the signed domains. Separately labelled, zones = distinct signer zones.
--   Derived from the domains.facts JSON (scanner.factjson: $.mx.rrsigs[*].algorithm,
--   $.zone_keys.dnskey.records, $.zone_keys.ds.records in presentation form); domains whose
--   zone keys were not gathered do not appear under 'DNSKEY algorithm' / 'DS digest type'.
-- param scan = null: scan id to restrict to; null = every scan
WITH signed AS (
    SELECT scan_id, domain, coalesce(zone, domain) AS zone, facts
    FROM domains
    WHERE mx_status = 'secure'
      AND ($scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR)
),
items AS (
    SELECT scan_id, domain, zone, 'MX RRSIG algorithm' AS kind, unnest(
        CAST(json_extract(facts, '$.mx.rrsigs[*].algorithm') AS INTEGER[])) AS number
    FROM signed
    UNION ALL
    SELECT scan_id, domain, zone, 'DNSKEY algorithm', CAST(split_part(rec, ' ', 3) AS INTEGER)
    FROM (SELECT scan_id, domain, zone,
                 unnest(json_extract_string(facts, '$.zone_keys.dnskey.records[*]')) AS rec
          FROM signed)
    UNION ALL
    SELECT scan_id, domain, zone, 'DS digest type', CAST(split_part(rec, ' ', 3) AS INTEGER)
    FROM (SELECT scan_id, domain, zone,
                 unnest(json_extract_string(facts, '$.zone_keys.ds.records[*]')) AS rec
          FROM signed)
),
totals AS (
    SELECT scan_id, count(*) AS signed_domains FROM signed GROUP BY scan_id
)
SELECT
    i.scan_id,
    i.kind,
    i.number,
    CASE WHEN i.kind = 'DS digest type' THEN
        CASE i.number WHEN 1 THEN 'SHA-1' WHEN 2 THEN 'SHA-256' WHEN 3 THEN 'GOST R 34.11-94'
                      WHEN 4 THEN 'SHA-384' ELSE 'unknown' END
    ELSE
        CASE i.number WHEN 1 THEN 'RSAMD5' WHEN 3 THEN 'DSA' WHEN 5 THEN 'RSASHA1'
                      WHEN 6 THEN 'DSA-NSEC3-SHA1' WHEN 7 THEN 'RSASHA1-NSEC3-SHA1'
                      WHEN 8 THEN 'RSASHA256' WHEN 10 THEN 'RSASHA512' WHEN 12 THEN 'ECC-GOST'
                      WHEN 13 THEN 'ECDSAP256SHA256' WHEN 14 THEN 'ECDSAP384SHA384'
                      WHEN 15 THEN 'ED25519' WHEN 16 THEN 'ED448' ELSE 'unknown' END
    END AS name,
    CASE WHEN i.kind = 'DS digest type' THEN i.number IN (1, 3)
         ELSE i.number IN (1, 3, 5, 6, 7, 12) END AS weak,
    count(DISTINCT i.domain) AS domains,
    round(100.0 * count(DISTINCT i.domain) / any_value(t.signed_domains), 2) AS pct_of_signed_domains,
    count(DISTINCT i.zone) AS zones
FROM items i
JOIN totals t USING (scan_id)
JOIN scan_order o USING (scan_id)
WHERE i.number IS NOT NULL
GROUP BY i.scan_id, o.scan_no, i.kind, i.number
ORDER BY o.scan_no, i.kind DESC, domains DESC, i.number;
