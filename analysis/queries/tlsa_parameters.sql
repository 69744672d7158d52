-- question: Which TLSA parameters (usage selector matching-type: 3 1 1, 2 1 1, ...) are in use?
-- counts: two grains, separately labelled (published studies disagree by an order of
--   magnitude because one counted records and the other RRsets):
--   tlsa_records = distinct TLSA records (owner name, usage, selector, mtype, data): a
--     record shared by several MX hosts through one owner name counts once;
--   tlsa_rrsets = distinct TLSA RRsets (owner names _25._tcp.<tlsa_base>) holding at least
--     one record with these parameters (an RRset with 3 1 1 and 2 1 1 counts under both);
--   pct_of_rrsets = share of all TLSA RRsets of the scan (same filter);
--   mx_hosts = distinct MX host names whose TLSA RRset holds such a record;
--   domains = distinct domains for which DANE applies to such an MX host.
-- param scan = null: scan id to restrict to; null = every scan
-- param include_insecure = 0: 1 = also count records from insecure or bogus RRsets
--   (by default only DNSSEC-secure records, which are the only ones DANE uses)
WITH r AS (
    SELECT *
    FROM tlsa_records
    WHERE ($scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR)
      AND ($include_insecure::INTEGER <> 0 OR dnssec_status = 'secure')
),
totals AS (
    SELECT scan_id, count(DISTINCT tlsa_base) AS all_rrsets FROM r GROUP BY scan_id
),
by_params AS (
    SELECT
        scan_id, usage, selector, mtype,
        count(DISTINCT (tlsa_base, usage, selector, mtype, data_hex)) AS tlsa_records,
        count(DISTINCT tlsa_base) AS tlsa_rrsets,
        count(DISTINCT host) AS mx_hosts,
        bool_and(usable) AS all_usable,
        list(DISTINCT host) AS hosts_list
    FROM r
    GROUP BY scan_id, usage, selector, mtype
),
param_domains AS (
    SELECT b.scan_id, b.usage, b.selector, b.mtype, count(DISTINCT m.domain) AS domains
    FROM by_params b, unnest(b.hosts_list) AS u(h)
    JOIN domain_mx m ON m.scan_id = b.scan_id AND m.host = u.h AND m.dane_applies
    GROUP BY b.scan_id, b.usage, b.selector, b.mtype
)
SELECT
    b.scan_id,
    concat_ws(' ', b.usage, b.selector, b.mtype) AS parameters,
    b.usage,
    b.selector,
    b.mtype,
    CASE b.usage WHEN 0 THEN 'PKIX-TA' WHEN 1 THEN 'PKIX-EE' WHEN 2 THEN 'DANE-TA'
                 WHEN 3 THEN 'DANE-EE' ELSE 'unknown' END AS usage_name,
    b.all_usable AS usable,
    b.tlsa_records,
    b.tlsa_rrsets,
    round(100.0 * b.tlsa_rrsets / t.all_rrsets, 2) AS pct_of_rrsets,
    b.mx_hosts,
    coalesce(pd.domains, 0) AS domains
FROM by_params b
JOIN totals t USING (scan_id)
LEFT JOIN param_domains pd USING (scan_id, usage, selector, mtype)
JOIN scan_order o USING (scan_id)
ORDER BY o.scan_no, b.tlsa_rrsets DESC, b.tlsa_records DESC, b.usage, b.selector, b.mtype;
