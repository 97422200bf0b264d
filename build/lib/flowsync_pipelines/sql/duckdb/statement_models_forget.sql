-- Drop every stored model (a GDPR erasure: they were fitted on data that held the person; the
-- next run refits on the scrubbed data). Returns how many rows went.
DELETE FROM statement_models
