-- CI run -> pull request: the run names the PR (pull_request trigger), ran on the PR's branch
-- while it was open, or built the PR's merge commit on the default branch.
WITH pairs AS (
    SELECT ci.entity_id AS ci_id, pr.entity_id AS pr_id
    FROM g_ci AS ci JOIN g_pr AS pr ON pr.repository = ci.repository
    WHERE ci.pr_number = pr.pr_number
       OR (ci.head_branch = pr.head_ref AND pr.head_ref <> '')
       OR ci.sha = pr.merge_sha
),
features AS (
    SELECT
        ci.entity_id AS ci_id, pr.entity_id AS pr_id,
        coalesce(ci.pr_number = pr.pr_number, false) AS pr_number,
        coalesce(ci.head_branch = pr.head_ref AND pr.head_ref <> '', false) AS branch,
        coalesce(ci.sha = pr.merge_sha, false) AS merge_sha,
        ci.started_at >= pr.opened_at - INTERVAL 7 DAY
            AND ci.started_at <= coalesce(pr.merged_at, pr.closed_at, ci.started_at) + INTERVAL 1 HOUR
            AS in_window,
        list_filter([ci.first_event, pr.opened_event], x -> x IS NOT NULL) AS evidence
    FROM pairs AS p
    JOIN g_ci AS ci ON ci.entity_id = p.ci_id
    JOIN g_pr AS pr ON pr.entity_id = p.pr_id
)
SELECT
    'ci_run:' || ci_id AS src,
    'pull_request:' || pr_id AS dst,
    CASE WHEN pr_number THEN 'pr_number' WHEN merge_sha THEN 'merge_commit'
         ELSE 'branch' END AS method,
    evidence,
    CAST(pr_number AS DOUBLE) AS f_pr_number,
    CAST(branch AS DOUBLE) AS f_branch,
    CAST(merge_sha AS DOUBLE) AS f_merge_sha,
    CAST(in_window AS DOUBLE) AS f_in_window,
    ln(count(*) OVER (PARTITION BY ci_id)) AS f_n_candidates
FROM features
