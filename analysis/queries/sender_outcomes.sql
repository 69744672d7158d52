-- question: Which share of the domains receives mail from each kind of sender: RFC 7672,
--   Postfix at dane (3.6+ defaults) and dane-only, Exchange Online with opportunistic and
--   mandatory DANE, and an MTA-STS-enforcing sender (scanner/core/profiles.py)?
-- counts: domains that accept mail (the sender profile's outcome is not no_mail), one row
--   per scan x sender: domains, receive (deliver_authenticated, deliver_unauthenticated_tls
--   or deliver_opportunistic), pct_receive (share of those domains), authenticated
--   (deliver_authenticated: DANE, or PKIX under an enforced MTA-STS policy), deferred
--   (defer_or_bounce), unknown, top_error (the most frequent error code among the deferred
--   domains, in the sender's own vocabulary) and top_error_domains.
--   Scans written before the sender_outcomes table existed have no rows here.
-- param scan = null: scan id to restrict to; null = every scan
WITH s AS (
    SELECT scan_id, domain, sender, outcome, coalesce(error_code, '') AS error_code
    FROM sender_outcomes
    WHERE ($scan::VARCHAR IS NULL OR scan_id = $scan::VARCHAR)
      AND outcome <> 'no_mail'
),
errors AS (
    SELECT scan_id, sender, error_code, count(*) AS n,
           row_number() OVER (PARTITION BY scan_id, sender ORDER BY count(*) DESC, error_code)
               AS pick
    FROM s
    WHERE outcome = 'defer_or_bounce'
    GROUP BY scan_id, sender, error_code
)
SELECT
    s.scan_id,
    s.sender,
    count(*) AS domains,
    count(*) FILTER (WHERE s.outcome IN ('deliver_authenticated', 'deliver_unauthenticated_tls',
                                         'deliver_opportunistic')) AS receive,
    round(100.0 * count(*) FILTER (WHERE s.outcome IN ('deliver_authenticated',
          'deliver_unauthenticated_tls', 'deliver_opportunistic')) / count(*), 2) AS pct_receive,
    count(*) FILTER (WHERE s.outcome = 'deliver_authenticated') AS authenticated,
    count(*) FILTER (WHERE s.outcome = 'defer_or_bounce') AS deferred,
    count(*) FILTER (WHERE s.outcome = 'unknown') AS unknown,
    coalesce(any_value(e.error_code), '') AS top_error,
    coalesce(any_value(e.n), 0) AS top_error_domains
FROM s
JOIN scan_order o USING (scan_id)
LEFT JOIN errors e ON e.scan_id = s.scan_id AND e.sender = s.sender AND e.pick = 1
GROUP BY s.scan_id, o.scan_no, s.sender
ORDER BY o.scan_no,
    list_position(['rfc7672', 'postfix-dane', 'postfix-dane-only', 'exchange-opportunistic',
                   'exchange-mandatory', 'mta-sts'], s.sender),
    s.sender;
