-- The landing records behind statements' evidence: for each cited event, the landing record its
-- signal was normalised from (signals.landing_ref) and the SHA-256 of that record's payload as
-- landing holds it now (hashed here, not copied from payload_sha256, so what is signed is what
-- is there).
-- Input: _st_evidence (statement_id, event_id), registered by the caller.
-- Parameters: $landing_files (the landing zone's Parquet files; at least one).
SELECT
    e.statement_id,
    e.event_id,
    s.landing_ref,
    l.payload_sha256
FROM _st_evidence AS e
LEFT JOIN (SELECT event_id, any_value(landing_ref) AS landing_ref FROM signals GROUP BY event_id) AS s
    ON s.event_id = e.event_id
LEFT JOIN (
    -- each record hashed once, however many statements cite it
    SELECT landing_ref, sha256(any_value(payload)) AS payload_sha256
    FROM read_parquet($landing_files, union_by_name = true)
    WHERE landing_ref IN (SELECT landing_ref FROM signals WHERE event_id IN (SELECT event_id FROM _st_evidence))
    GROUP BY landing_ref
) AS l ON l.landing_ref = s.landing_ref
ORDER BY e.statement_id, e.event_id
