-- question: How was each scan made: resolvers, trust anchor, EHLO name, probing, opt-out
--   list, Public Suffix List snapshot, software, rules and schema versions, every setting
--   recorded (the report's Methods section)?
-- counts: scans (one row per scan, oldest first, with every column of the scans table,
--   including those a newer scanner added: the report reads what is there)
SELECT o.scan_no, s.*
FROM scans s
JOIN scan_order o USING (scan_id)
ORDER BY o.scan_no;
