-- question: What changed between two scans, domain by domain: newly broken, newly valid,
--   changed verdict, changed mail outcome, changed provider, added or removed?
-- counts: domains (one row per domain whose state differs between scan_a and scan_b,
--   or that is in only one of them). changes lists every label that applies:
--   newly_broken    = mail_outcome defer_or_bounce in scan_b, not in scan_a (a DANE-enforcing
--                     sender delivered before and defers or bounces now);
--   newly_valid     = verdict dane_valid in scan_b, not in scan_a;
--   no_longer_valid = verdict dane_valid in scan_a, not in scan_b;
--   verdict_changed, mail_outcome_changed;
--   provider_changed = the set of MX providers (registered domains of the MX hosts) differs;
--   added / removed = the domain is only in scan_b / only in scan_a.
-- param scan_a = null: the earlier scan id; null = the second most recent scan
-- param scan_b = null: the later scan id; null = the most recent scan
WITH pick AS (
    SELECT
        coalesce($scan_a::VARCHAR,
                 (SELECT scan_id FROM scan_order ORDER BY scan_no DESC LIMIT 1 OFFSET 1)) AS a,
        coalesce($scan_b::VARCHAR,
                 (SELECT scan_id FROM scan_order ORDER BY scan_no DESC LIMIT 1)) AS b
),
prov AS (
    SELECT m.scan_id, m.domain, list_sort(list(DISTINCT p.provider)) AS providers
    FROM domain_mx m
    JOIN providers p ON p.host = m.host
    WHERE m.scan_id IN ((SELECT a FROM pick), (SELECT b FROM pick))
    GROUP BY m.scan_id, m.domain
),
side AS (
    SELECT d.scan_id, d.domain, d.verdict, d.mail_outcome, d.error_code,
           coalesce(p.providers, []::VARCHAR[]) AS providers
    FROM domains d
    LEFT JOIN prov p USING (scan_id, domain)
    WHERE d.scan_id IN ((SELECT a FROM pick), (SELECT b FROM pick))
),
sa AS (SELECT * FROM side WHERE scan_id = (SELECT a FROM pick)),
sb AS (SELECT * FROM side WHERE scan_id = (SELECT b FROM pick)),
joined AS (
    SELECT
        coalesce(sa.domain, sb.domain) AS domain,
        sa.verdict AS verdict_a, sb.verdict AS verdict_b,
        sa.mail_outcome AS mail_outcome_a, sb.mail_outcome AS mail_outcome_b,
        sb.error_code AS error_code_b,
        sa.providers AS providers_a, sb.providers AS providers_b,
        sa.domain IS NULL AS added,
        sb.domain IS NULL AS removed
    FROM sa FULL OUTER JOIN sb ON sa.domain = sb.domain
),
labelled AS (
    SELECT *,
        list_filter([
            CASE WHEN added THEN 'added' END,
            CASE WHEN removed THEN 'removed' END,
            CASE WHEN NOT added AND NOT removed AND mail_outcome_b = 'defer_or_bounce'
                      AND mail_outcome_a <> 'defer_or_bounce' THEN 'newly_broken' END,
            CASE WHEN NOT added AND NOT removed AND verdict_b = 'dane_valid'
                      AND verdict_a <> 'dane_valid' THEN 'newly_valid' END,
            CASE WHEN NOT added AND NOT removed AND verdict_a = 'dane_valid'
                      AND verdict_b <> 'dane_valid' THEN 'no_longer_valid' END,
            CASE WHEN NOT added AND NOT removed AND verdict_a <> verdict_b
                 THEN 'verdict_changed' END,
            CASE WHEN NOT added AND NOT removed AND mail_outcome_a <> mail_outcome_b
                 THEN 'mail_outcome_changed' END,
            CASE WHEN NOT added AND NOT removed AND providers_a <> providers_b
                 THEN 'provider_changed' END
        ], lambda c: c IS NOT NULL) AS changes
    FROM joined
)
SELECT
    (SELECT a FROM pick) AS scan_a,
    (SELECT b FROM pick) AS scan_b,
    domain,
    changes,
    verdict_a, verdict_b,
    mail_outcome_a, mail_outcome_b,
    error_code_b,
    array_to_string(providers_a, ', ') AS providers_a,
    array_to_string(providers_b, ', ') AS providers_b
FROM labelled
WHERE len(changes) > 0
ORDER BY list_contains(changes, 'newly_broken') DESC, domain;
