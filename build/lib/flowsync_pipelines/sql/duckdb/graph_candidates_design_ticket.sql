-- Design comment -> ticket: a ticket key in the comment, ideally next to the #flowsync tag.
WITH keyed AS (
    SELECT d.*, unnest(list_distinct(d.ticket_keys || regexp_extract_all(d.message,
        '\b[A-Z][A-Z0-9]{1,9}-[1-9][0-9]{0,6}\b'))) AS ticket_key
    FROM g_design AS d
)
SELECT
    'design_comment:' || k.entity_id AS src,
    'ticket:' || k.ticket_key AS dst,
    CASE WHEN k.message ILIKE '%#flowsync%' THEN 'flowsync_tag_and_key' ELSE 'key_only' END
        AS method,
    list_filter([k.first_event, t.first_event], x -> x IS NOT NULL) AS evidence,
    CAST(k.message ILIKE '%#flowsync%' AS DOUBLE) AS f_tag,
    CAST(t.ticket_key IS NOT NULL AS DOUBLE) AS f_ticket_seen,
    CAST(k.is_reply AS DOUBLE) AS f_reply,
    ln(count(*) OVER (PARTITION BY k.entity_id)) AS f_n_keys
FROM keyed AS k
LEFT JOIN g_ticket AS t ON t.ticket_key = k.ticket_key
