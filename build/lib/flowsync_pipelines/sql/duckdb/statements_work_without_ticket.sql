-- Inferred: a pull request merged during the day by a person implements no ticket. Confidence:
-- the probability that none of its candidate ticket links is real, prod(1 - p), times
-- $unseen_link_prior for candidates the graph dropped below its minimum confidence.
WITH candidates AS (
    SELECT src_id AS pr_id, list(confidence) AS confidences, flatten(list(evidence)) AS evidence
    FROM st_edge WHERE link_type = 'pr_ticket'
    GROUP BY src_id
)
SELECT
    d.as_of_date,
    t.team,
    'pull_request' AS subject_type, p.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({merged_at: strftime(p.merged_at, '%Y-%m-%dT%H:%M:%SZ'), author: p.author,
             candidate_links: coalesce(len(c.confidences), 0)}) AS params,
    $unseen_link_prior * coalesce(list_product(list_transform(c.confidences, x -> 1 - x)), 1.0) AS confidence,
    list_concat([p.merged_event, p.opened_event], coalesce(c.evidence, [])[1:5]) AS evidence,
    [p.url] AS citations
FROM st_pr AS p
JOIN st_days AS d ON p.merged_at >= d.day_start AND p.merged_at < d.as_of
LEFT JOIN candidates AS c ON c.pr_id = p.entity_id
LEFT JOIN st_repo_team AS t ON t.repository = p.repository
WHERE p.opened_event IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM signals AS s WHERE s.event_id = p.opened_event AND s.actor_kind = 'bot')
