-- Product-manager digests: the day's pm_items with when their statement was first made and its
-- citations. No statement text: it may name a pseudonym. Parameters: $day.
SELECT i.team, i.item_kind, i.subject_id, i.ticket_id, i.title, i.url, i.kind, i.confidence,
    i.band, i.statement_id, s.first_stated_on, s.citations
FROM pm_items AS i
LEFT JOIN statements AS s ON s.statement_id = i.statement_id
WHERE i.as_of_date = CAST($day AS DATE)
ORDER BY i.team, i.item_kind, i.confidence DESC, i.subject_id;
