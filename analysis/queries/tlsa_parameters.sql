-- question: Which TLSA parameters (usage selector matching-type: 3 1 1, 2 1 1, ...) are in use,
--   and how many of those records and RRsets can a DANE sender use?
-- counts: two grains, separately labelled (published studies disagree by an order of
--   magnitude because one counted records and the other RRsets):
--   tlsa_records = distinct TLSA records (owner name, usage, selector, mtype, data): a
--     record shared by several MX hosts through one owner name counts once;
--     usable_records + unusable_records = tlsa_records, a record being usable when
--     the scanner found it usable (RFC 7672 §3.1: DANE-TA/DANE-EE, selector 0/1,
--     matching type 0/1/2, data of the right length), so a 3 1 1 record with
--     truncated data is an unusable record of a usable parameter set;
--   tlsa_rrsets = distinct TLSA RRsets (owner names _25._tcp.<tlsa_base>) holding at least
--     one record with these parameters (an RRset with 3 1 1 and 2 1 1 counts under both);
--     usable_rrsets = of those, RRsets with a usable record of these parameters,
--     unusable_rrsets = RRsets whose records of these parameters are all unusable;
--   parameters_usable = the parameters themselves are usable for SMTP (RFC 7672 §3.1),
--     whatever the data;
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
records AS (  -- one row per distinct record, however many hosts share its owner name
    SELECT scan_id, tlsa_base, usage, selector, mtype, data_hex, bool_or(usable) AS usable
    FROM r
    GROUP BY scan_id, tlsa_base, usage, selector, mtype, data_hex
),
rrsets AS (  -- one row per RRset and parameter set
    SELECT scan_id, tlsa_base, usage, selector, mtype,
           count(*) AS records,
           count(*) FILTER (WHERE usable) AS usable_records,
           bool_or(usable) AS any_usable
    FROM records
    GROUP BY scan_id, tlsa_base, usage, selector, mtype
),
totals AS (
    SELECT scan_id, count(DISTINCT tlsa_base) AS all_rrsets FROM r GROUP BY scan_id
),
by_params AS (
    SELECT
        scan_id, usage, selector, mtype,
        sum(records)::BIGINT AS tlsa_records,
        sum(usable_records)::BIGINT AS usable_records,
        count(*) AS tlsa_rrsets,
        count(*) FILTER (WHERE any_usable) AS usable_rrsets
    FROM rrsets
    GROUP BY scan_id, usage, selector, mtype
),
param_hosts AS (
    SELECT scan_id, usage, selector, mtype,
           count(DISTINCT host) AS mx_hosts, list(DISTINCT host) AS hosts_list
    FROM r
    GROUP BY scan_id, usage, selector, mtype
),
param_domains AS (
    SELECT h.scan_id, h.usage, h.selector, h.mtype, count(DISTINCT m.domain) AS domains
    FROM param_hosts h, unnest(h.hosts_list) AS u(host)
    JOIN domain_mx m ON m.scan_id = h.scan_id AND m.host = u.host AND m.dane_applies
    GROUP BY h.scan_id, h.usage, h.selector, h.mtype
)
SELECT
    b.scan_id,
    concat_ws(' ', b.usage, b.selector, b.mtype) AS parameters,
    b.usage,
    b.selector,
    b.mtype,
    CASE b.usage WHEN 0 THEN 'PKIX-TA' WHEN 1 THEN 'PKIX-EE' WHEN 2 THEN 'DANE-TA'
                 WHEN 3 THEN 'DANE-EE' ELSE 'unknown' END AS usage_name,
    (b.usage IN (2, 3) AND b.selector IN (0, 1) AND b.mtype IN (0, 1, 2)) AS parameters_usable,
    b.tlsa_records,
    b.usable_records,
    b.tlsa_records - b.usable_records AS unusable_records,
    b.tlsa_rrsets,
    b.usable_rrsets,
    b.tlsa_rrsets - b.usable_rrsets AS unusable_rrsets,
    round(100.0 * b.tlsa_rrsets / t.all_rrsets, 2) AS pct_of_rrsets,
    h.mx_hosts,
    coalesce(pd.domains, 0) AS domains
FROM by_params b
JOIN totals t USING (scan_id)
JOIN param_hosts h USING (scan_id, usage, selector, mtype)
LEFT JOIN param_domains pd USING (scan_id, usage, selector, mtype)
JOIN scan_order o USING (scan_id)
ORDER BY o.scan_no, b.tlsa_rrsets DESC, b.tlsa_records DESC, b.usage, b.selector, b.mtype;
