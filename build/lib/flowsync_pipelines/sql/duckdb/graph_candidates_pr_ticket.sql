-- Pull request -> ticket. Explicit: a ticket key in the PR title, branch (any case), body (the
-- PR's keys not in title or branch) or in messages of the PR's commits (g_link_commit_pr, the
-- calibrated commit -> PR links). Implicit: a ticket of the PR's team or author that moved to
-- review as the PR opened, or to done as it merged.
WITH
branch_keys AS (
    SELECT entity_id AS pr_id, unnest(regexp_extract_all(upper(head_ref),
        '\b[A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6}\b')) AS ticket_key
    FROM g_pr
),
commit_keys AS (
    SELECT substr(l.dst, length('pull_request:') + 1) AS pr_id, unnest(c.ticket_keys) AS ticket_key,
           l.confidence, c.event_id
    FROM g_link_commit_pr AS l
    JOIN g_commit AS c ON l.src = 'commit:' || c.repository || '@' || c.sha
),
explicit AS (
    SELECT entity_id AS pr_id, unnest(ticket_keys) AS ticket_key FROM g_pr
    UNION SELECT pr_id, ticket_key FROM branch_keys
    UNION SELECT pr_id, ticket_key FROM commit_keys
),
implicit AS (
    SELECT DISTINCT pr.entity_id AS pr_id, m.ticket_key
    FROM g_pr AS pr
    JOIN g_ticket_move AS m
      ON m.occurred_at BETWEEN pr.opened_at - INTERVAL 2 DAY
                           AND coalesce(pr.merged_at, pr.closed_at, pr.opened_at) + INTERVAL 1 DAY
    LEFT JOIN g_ticket_team AS tt ON tt.ticket_key = m.ticket_key AND tt.team = pr.repo_team
    WHERE (m.to_review OR m.to_done) AND (m.person = pr.author_person OR tt.team IS NOT NULL)
),
pairs AS (
    SELECT pr_id, ticket_key, true AS is_explicit FROM explicit WHERE ticket_key IS NOT NULL
    UNION ALL
    SELECT i.pr_id, i.ticket_key, false FROM implicit AS i
    WHERE NOT EXISTS (SELECT 1 FROM explicit AS e
                      WHERE e.pr_id = i.pr_id AND e.ticket_key = i.ticket_key)
),
moves AS (
    SELECT p.pr_id, p.ticket_key,
        min(abs((epoch(m.occurred_at) - epoch(pr.opened_at)))) FILTER (WHERE m.to_review) / 3600.0
            AS review_gap_h,
        min((epoch(m.occurred_at) - epoch(pr.merged_at))) FILTER (
            WHERE m.to_done AND m.occurred_at >= pr.merged_at - INTERVAL 30 MINUTE) / 3600.0
            AS done_gap_h,
        bool_or(m.person = pr.author_person AND (m.to_review OR m.to_done)) AS mover_author,
        arg_min(m.event_id, (abs((epoch(m.occurred_at) - epoch(pr.opened_at))), m.event_id))
            FILTER (WHERE m.to_review) AS review_event,
        arg_min(m.event_id, (m.occurred_at, m.event_id)) FILTER (
            WHERE m.to_done AND m.occurred_at >= pr.merged_at - INTERVAL 30 MINUTE) AS done_event
    FROM pairs AS p
    JOIN g_pr AS pr ON pr.entity_id = p.pr_id
    JOIN g_ticket_move AS m ON m.ticket_key = p.ticket_key
    GROUP BY p.pr_id, p.ticket_key
),
-- Title words (lower case, longer than one letter) for a token Jaccard similarity.
words AS (
    SELECT 'pr:' || entity_id AS id, list_distinct(list_filter(
        string_split_regex(lower(title), '[^a-z0-9]+'), x -> length(x) > 1)) AS w
    FROM g_pr
    UNION ALL
    SELECT 'ticket:' || ticket_key, list_distinct(list_filter(
        string_split_regex(lower(coalesce(title, '')), '[^a-z0-9]+'), x -> length(x) > 1))
    FROM g_ticket
),
features AS (
    SELECT
        p.pr_id, p.ticket_key, p.is_explicit,
        regexp_matches(pr.title, '\b' || p.ticket_key || '\b') AS in_title,
        regexp_matches(upper(pr.head_ref), '\b' || p.ticket_key || '\b') AS in_branch,
        regexp_matches(upper(pr.head_ref), '(^|/)' || p.ticket_key || '($|[-_/])')
            AS branch_leading,
        list_contains(pr.ticket_keys, p.ticket_key) AS in_keys,
        (SELECT max(ck.confidence) FROM commit_keys AS ck
         WHERE ck.pr_id = p.pr_id AND ck.ticket_key = p.ticket_key) AS commit_conf,
        t.ticket_key IS NOT NULL AS ticket_seen,
        coalesce(kp.n_keys, 0) AS prefix_keys,
        CASE WHEN t.title IS NULL THEN 0.0 ELSE
            len(list_intersect(pw.w, tw.w)) / greatest(len(list_distinct(pw.w || tw.w)), 1)
        END AS title_sim,
        coalesce(list_contains(t.assignees, pr.author)
                 OR EXISTS (SELECT 1 FROM g_actor_person AS ap
                            WHERE list_contains(t.assignees, ap.actor)
                              AND ap.person = pr.author_person), false) AS assignee_author,
        mv.review_gap_h, mv.done_gap_h, coalesce(mv.mover_author, false) AS mover_author,
        EXISTS (SELECT 1 FROM g_ticket_team AS tt
                WHERE tt.ticket_key = p.ticket_key AND tt.team = pr.repo_team) AS same_team,
        -- Another ticket's key is written on the pull request: implicit evidence for this one
        -- (or a second key) is weaker.
        EXISTS (SELECT 1 FROM explicit AS e
                WHERE e.pr_id = p.pr_id AND e.ticket_key <> p.ticket_key) AS other_explicit,
        list_filter([pr.opened_event, t.first_event, mv.review_event, mv.done_event,
                     (SELECT min(ck.event_id) FROM commit_keys AS ck
                      WHERE ck.pr_id = p.pr_id AND ck.ticket_key = p.ticket_key)],
                    x -> x IS NOT NULL) AS evidence
    FROM pairs AS p
    JOIN g_pr AS pr ON pr.entity_id = p.pr_id
    LEFT JOIN g_ticket AS t ON t.ticket_key = p.ticket_key
    LEFT JOIN g_key_prefix AS kp ON kp.prefix = split_part(p.ticket_key, '-', 1)
    LEFT JOIN moves AS mv ON mv.pr_id = p.pr_id AND mv.ticket_key = p.ticket_key
    LEFT JOIN words AS pw ON pw.id = 'pr:' || p.pr_id
    LEFT JOIN words AS tw ON tw.id = 'ticket:' || p.ticket_key
)
SELECT
    'pull_request:' || pr_id AS src,
    'ticket:' || ticket_key AS dst,
    CASE WHEN in_title THEN 'key_in_title'
         WHEN in_branch THEN 'key_in_branch'
         WHEN in_keys THEN 'key_in_body'
         WHEN commit_conf IS NOT NULL THEN 'key_in_commit'
         ELSE 'author_time_proximity' END AS method,
    evidence,
    CAST(in_title AS DOUBLE) AS f_title,
    CAST(in_branch AS DOUBLE) AS f_branch,
    CAST(branch_leading AS DOUBLE) AS f_branch_leading,
    CAST(in_keys AND NOT in_title AND NOT in_branch AS DOUBLE) AS f_body,
    coalesce(commit_conf, 0.0) AS f_commit,
    CAST(is_explicit AS DOUBLE) AS f_explicit,
    CAST(ticket_seen AS DOUBLE) AS f_ticket_seen,
    ln(1 + prefix_keys) AS f_prefix_keys,
    title_sim AS f_title_sim,
    CAST(NOT is_explicit AND title_sim > 0 AND title_sim = max(title_sim) FILTER (
        WHERE NOT is_explicit) OVER (PARTITION BY pr_id) AS DOUBLE) AS f_best_title_sim,
    CAST(assignee_author AS DOUBLE) AS f_assignee_author,
    ln(1 + least(coalesce(review_gap_h, 72), 72)) AS f_review_gap_h,
    CAST(review_gap_h IS NOT NULL AS DOUBLE) AS f_has_review_move,
    ln(1 + least(greatest(coalesce(done_gap_h, 72), 0), 72)) AS f_done_gap_h,
    CAST(done_gap_h IS NOT NULL AS DOUBLE) AS f_has_done_move,
    CAST(mover_author AS DOUBLE) AS f_mover_author,
    CAST(same_team AS DOUBLE) AS f_same_team,
    ln(1 + count(*) FILTER (WHERE NOT is_explicit) OVER (PARTITION BY pr_id)) AS f_n_implicit,
    CAST(other_explicit AS DOUBLE) AS f_other_explicit
FROM features
