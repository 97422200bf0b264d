-- The materialised answer of a ticket's traversal (see graph_ticket_context.sql), up to $depth.
SELECT node_id, kind, depth
FROM graph_ticket_context
WHERE start_id = $start_id AND depth <= $depth
ORDER BY depth, node_id
