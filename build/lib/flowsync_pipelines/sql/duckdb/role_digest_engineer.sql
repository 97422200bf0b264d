-- Engineer digests: every person's items of one day with the statement behind each statement
-- item (its text, band and citations). Parameters: $day. The caller keeps the recipient's own.
SELECT e.team, e.person, e.item_kind, e.entity_id, e.title, e.url, e.state, e.since,
    e.waited_hours, s.statement_id, s.kind, s.text, s.confidence, s.band, s.citations,
    s.first_stated_on
FROM engineer_items AS e
LEFT JOIN statements AS s ON e.item_kind = 'statement' AND s.statement_id = e.linked[1]
WHERE e.as_of_date = CAST($day AS DATE)
ORDER BY e.team, e.person, e.item_kind, e.waited_hours DESC NULLS LAST, e.entity_id;
