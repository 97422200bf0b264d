-- Commit -> pull request. Exact ties: the PR's merge commit (by sha, or "Merge pull request #N"),
-- its head sha, a CI run on the PR's branch that built the commit. Weaker: a commit by the PR's
-- author in the same repository while the PR was being worked on (pushes land minutes later).
WITH
branch_runs AS (
    SELECT pr.entity_id AS pr_id, ci.sha, ci.started_at, ci.first_event
    FROM g_pr AS pr
    JOIN g_ci AS ci ON ci.repository = pr.repository AND ci.head_branch = pr.head_ref
    WHERE pr.head_ref <> ''
),
pr_window AS (
    SELECT pr.entity_id AS pr_id, min(br.started_at) AS first_push, max(br.started_at) AS last_push
    FROM g_pr AS pr LEFT JOIN branch_runs AS br ON br.pr_id = pr.entity_id
    GROUP BY pr.entity_id
),
-- Commits known only from CI runs on a PR branch (never merged, so not in the commit list).
commits AS (
    SELECT repository, sha, committed_at, person, ticket_keys, title, is_merge, merge_pr_number,
           event_id
    FROM g_commit
    UNION ALL
    SELECT ci.repository, ci.sha, min(ci.started_at), NULL, CAST([] AS VARCHAR[]), NULL, false,
           NULL, arg_min(ci.first_event, (ci.started_at, ci.first_event))
    FROM g_ci AS ci
    WHERE ci.sha IS NOT NULL AND ci.head_branch IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM g_commit AS c WHERE c.repository = ci.repository AND c.sha = ci.sha)
    GROUP BY ci.repository, ci.sha
),
pairs AS (
    SELECT c.repository, c.sha, pr.entity_id AS pr_id
    FROM commits AS c JOIN g_pr AS pr ON pr.repository = c.repository
    WHERE c.sha = pr.merge_sha OR c.sha = pr.head_sha OR c.merge_pr_number = pr.pr_number
    UNION
    SELECT c.repository, c.sha, br.pr_id
    FROM commits AS c JOIN g_pr AS pr ON pr.repository = c.repository
    JOIN branch_runs AS br ON br.pr_id = pr.entity_id AND br.sha = c.sha
    UNION
    SELECT c.repository, c.sha, pr.entity_id
    FROM commits AS c
    JOIN g_pr AS pr ON pr.repository = c.repository AND c.person = pr.author_person
    JOIN pr_window AS w ON w.pr_id = pr.entity_id
    WHERE NOT c.is_merge
      AND c.committed_at >= coalesce(w.first_push, pr.opened_at) - INTERVAL 3 DAY
      AND c.committed_at <= coalesce(pr.merged_at, pr.closed_at, w.last_push + INTERVAL 1 DAY,
                                     pr.opened_at + INTERVAL 14 DAY)
),
features AS (
    SELECT
        p.repository, p.sha, p.pr_id,
        c.sha = pr.merge_sha AS merge_sha,
        coalesce(c.merge_pr_number = pr.pr_number, false) AS merge_title,
        c.sha = pr.head_sha AS head_sha,
        EXISTS (SELECT 1 FROM branch_runs AS br WHERE br.pr_id = p.pr_id AND br.sha = p.sha)
            AS ci_branch,
        coalesce(c.person = pr.author_person, false) AS same_author,
        (SELECT min((epoch(br.started_at) - epoch(c.committed_at))) / 3600.0 FROM branch_runs AS br
         WHERE br.pr_id = p.pr_id AND br.started_at >= c.committed_at) AS gap_next_push_h,
        c.committed_at < pr.opened_at AS before_open,
        len(list_intersect(c.ticket_keys, pr.ticket_keys)) > 0 AS key_overlap,
        list_filter([c.event_id, pr.opened_event, pr.merged_event,
                     (SELECT min(br.first_event) FROM branch_runs AS br
                      WHERE br.pr_id = p.pr_id AND br.sha = p.sha)], x -> x IS NOT NULL)
            AS evidence
    FROM pairs AS p
    JOIN commits AS c ON c.repository = p.repository AND c.sha = p.sha
    JOIN g_pr AS pr ON pr.entity_id = p.pr_id
)
SELECT
    'commit:' || repository || '@' || sha AS src,
    'pull_request:' || pr_id AS dst,
    CASE WHEN merge_sha OR merge_title THEN 'merge_commit'
         WHEN head_sha OR ci_branch THEN 'branch_head'
         ELSE 'author_time_proximity' END AS method,
    evidence,
    CAST(merge_sha AS DOUBLE) AS f_merge_sha,
    CAST(merge_title AS DOUBLE) AS f_merge_title,
    CAST(head_sha AS DOUBLE) AS f_head_sha,
    CAST(ci_branch AS DOUBLE) AS f_ci_branch,
    CAST(same_author AS DOUBLE) AS f_same_author,
    ln(1 + least(coalesce(gap_next_push_h, 72), 72)) AS f_gap_next_push_h,
    CAST(gap_next_push_h IS NULL AS DOUBLE) AS f_no_push_after,
    CAST(before_open AS DOUBLE) AS f_before_open,
    CAST(key_overlap AS DOUBLE) AS f_key_overlap,
    ln(count(*) OVER (PARTITION BY repository, sha)) AS f_n_candidates,
    CAST(coalesce(gap_next_push_h, 1e9)
         = min(coalesce(gap_next_push_h, 1e9)) OVER (PARTITION BY repository, sha) AS DOUBLE)
        AS f_best_gap
FROM features
