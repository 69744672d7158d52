-- question: What does a DANE-enforcing sender make of the MX hosts (DESIGN §4 rule 6:
--   authenticated, tlsa_mismatch, starttls_missing, tls_failed, unreachable,
--   tlsa_unusable, tlsa_lookup_failed, not_dane)?
-- counts: MX hosts (distinct host names with that outcome for at least one domain; a host
--   whose outcome differs between domains, e.g. not_dane for domains whose MX RRset is
--   unsigned, counts under each of its outcomes), and, separately labelled, domains
--   (distinct domains with at least one MX host of that outcome) and domain_mx_pairs
--   ((domain, MX host) rows)
-- param scan = null: scan id to restrict to; null = every scan
SELECT
    m.scan_id,
    m.outcome,
    count(DISTINCT m.host) AS mx_hosts,
    count(DISTINCT m.domain) AS domains,
    count(*) AS domain_mx_pairs
FROM domain_mx m
JOIN scan_order o USING (scan_id)
WHERE $scan::VARCHAR IS NULL OR m.scan_id = $scan::VARCHAR
GROUP BY m.scan_id, o.scan_no, m.outcome
ORDER BY o.scan_no, mx_hosts DESC, m.outcome;
