-- question: What was scanned, when, through which resolver, with which software and rules?
-- counts: scans (one row per scan, oldest first); domains_* and hosts/addresses are the
--   scanner's own counts as written in the scans table
SELECT
    o.scan_no,
    s.scan_id,
    s.started_at,
    s.finished_at,
    s.status,
    array_to_string(s.resolvers, ', ') AS resolvers,
    s.trust_anchor,
    s.software_version,
    s.rules_version,
    s.schema_version,
    s.input,
    s.probing,
    s.ehlo_name,
    s.domains_input,
    s.domains_scanned,
    s.domains_invalid,
    s.hosts AS mx_hosts,
    s.addresses,
    s.queries
FROM scans s
JOIN scan_order o USING (scan_id)
ORDER BY o.scan_no;
