-- Fact: a pull request, open at the end of the day or merged during it, whose commits (those the
-- graph links to it with at least $min_link_confidence) changed more than $large_pr_files
-- distinct files. Pull request events carry no line counts; the commits' file lists do.
WITH pr_commit AS (
    SELECT e.dst_id AS pr_id, c.occurred_at, c.event_id,
        CAST(c.attributes->'files' AS VARCHAR[]) AS files
    FROM st_edge AS e
    JOIN signals AS c ON c.entity_type = 'commit' AND c.entity_id = e.src_id
    WHERE e.link_type = 'commit_pr' AND e.confidence >= $min_link_confidence
      AND (c.attributes->'files') IS NOT NULL
),
sized AS (
    SELECT d.as_of_date, p.entity_id, any_value(p.repository) AS repository,
        any_value(p.url) AS url, any_value(p.opened_event) AS opened_event,
        len(list_distinct(flatten(list(c.files)))) AS files,
        count(*) AS commits,
        list(c.event_id ORDER BY c.occurred_at, c.event_id) AS commit_events
    FROM st_pr AS p
    JOIN st_days AS d ON p.opened_at < d.as_of
        AND coalesce(p.merged_at, p.closed_at, TIMESTAMPTZ '9999-12-31') >= d.day_start
        AND (p.closed_at IS NULL OR p.closed_at >= d.as_of OR p.merged_at IS NOT NULL)
    JOIN pr_commit AS c ON c.pr_id = p.entity_id AND c.occurred_at < d.as_of
    GROUP BY d.as_of_date, p.entity_id
)
SELECT
    s.as_of_date,
    t.team,
    'pull_request' AS subject_type, s.entity_id AS subject_id,
    NULL AS object_type, NULL AS object_id,
    to_json({files_changed: s.files, commits: s.commits, threshold: $large_pr_files}) AS params,
    1.0 AS confidence,
    list_concat([s.opened_event], s.commit_events[1:20]) AS evidence,
    [s.url] AS citations
FROM sized AS s
LEFT JOIN st_repo_team AS t ON t.repository = s.repository
WHERE s.files > $large_pr_files
