-- question: For the domains I exchange mail with, which will fail when my server enforces
--   DANE, why, with which error code, and what must the partner fix?
-- counts: domains (one row per domain asked for; a domain absent from the scan gets
--   verdict 'not_scanned'); ready = a DANE-enforcing sender delivers (mail_outcome
--   deliver_authenticated, deliver_unauthenticated_tls or deliver_opportunistic)
-- param domains = null: comma-separated domain names (shell: --param domains=a.example,b.example
--   or --param domains=@FILE, one a line); null = every domain of the scan
-- param scan = null: scan id; null = the most recent scan
WITH pick AS (
    SELECT coalesce($scan::VARCHAR,
                    (SELECT scan_id FROM scan_order ORDER BY scan_no DESC LIMIT 1)) AS s
),
asked AS (
    SELECT DISTINCT lower(trim(trailing '.' FROM trim(x))) AS domain
    FROM (SELECT unnest(string_split($domains::VARCHAR, ',')) AS x)
    WHERE trim(x) <> ''
    UNION
    SELECT domain FROM domains
    WHERE $domains::VARCHAR IS NULL AND scan_id = (SELECT s FROM pick)
),
f AS (
    SELECT domain, list_sort(list(DISTINCT code)) AS finding_codes
    FROM findings WHERE scan_id = (SELECT s FROM pick) GROUP BY domain
)
SELECT
    a.domain,
    coalesce(d.verdict, 'not_scanned') AS verdict,
    d.mail_outcome,
    coalesce(d.mail_outcome IN ('deliver_authenticated', 'deliver_unauthenticated_tls',
                                'deliver_opportunistic'), false) AS ready,
    coalesce(d.error_code, '') AS error_code,
    coalesce(d.fix, '') AS fix,
    array_to_string(d.mx_hosts, ' ') AS mx_hosts,
    array_to_string(coalesce(f.finding_codes, d.findings), ' ') AS findings,
    d.scanned_at,
    (SELECT s FROM pick) AS scan_id
FROM asked a
LEFT JOIN domains d ON d.domain = a.domain AND d.scan_id = (SELECT s FROM pick)
LEFT JOIN f ON f.domain = a.domain
ORDER BY ready, a.domain;
