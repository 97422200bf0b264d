-- Jira issue links as they stand now, each end named by its ticket key.
-- Link deliveries (issuelink_created / _deleted) name issues by id only, so their events are on
-- the ticket_link 'jira-issue-id:<source id>/links/<link id>'. Every Jira ticket event carries its issue's id
-- (attributes.issue_id), whichever batch or day it was normalised in: an id resolves to the key
-- its newest event shows (a key changes when an issue moves project; the id does not). An id
-- no event has shown yet stays 'jira-issue-id:<id>' until one does.
-- Read "<source_key> <outward> <destination_key>" and "<destination_key> <inward> <source_key>".
WITH keys AS (
    SELECT
        attributes->>'issue_id' AS issue_id,
        arg_max(entity_id, (occurred_at, event_id)) AS ticket_key,
        arg_max(url, (occurred_at, event_id)) AS url
    FROM signals
    WHERE source = 'jira' AND entity_type = 'ticket' AND (attributes->>'issue_id') IS NOT NULL
    GROUP BY 1
),
links AS (
    SELECT
        entity_id,
        any_value(attributes->>'link_id') AS link_id,
        arg_max(action, (occurred_at, event_id)) AS last_action,
        arg_max(attributes, (occurred_at, event_id)) AS attributes,
        min(occurred_at) FILTER (WHERE action = 'linked') AS linked_at,
        arg_min(event_id, (occurred_at, event_id)) FILTER (WHERE action = 'linked')
            AS linked_event_id
    FROM signals
    WHERE source = 'jira' AND entity_type = 'ticket_link'
    GROUP BY entity_id
)
SELECT
    l.entity_id,
    l.link_id,
    coalesce(s.ticket_key, 'jira-issue-id:' || (l.attributes->>'source_issue_id')) AS source_key,
    l.attributes->>'link_type' AS link_type,
    l.attributes->>'outward' AS outward,
    l.attributes->>'inward' AS inward,
    coalesce(d.ticket_key, 'jira-issue-id:' || (l.attributes->>'destination_issue_id'))
        AS destination_key,
    s.url AS source_url,
    d.url AS destination_url,
    l.linked_at,
    l.linked_event_id
FROM links AS l
LEFT JOIN keys AS s ON s.issue_id = (l.attributes->>'source_issue_id')
LEFT JOIN keys AS d ON d.issue_id = (l.attributes->>'destination_issue_id')
WHERE l.last_action = 'linked'
ORDER BY l.link_id
