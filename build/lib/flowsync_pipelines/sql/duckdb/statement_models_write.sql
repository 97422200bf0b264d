-- Store one fitted model; a version stored before (e.g. with a corrupted blob) is replaced.
-- Delete-then-insert rather than INSERT OR REPLACE: verify's scratch copy of this table has no
-- primary key.
DELETE FROM statement_models WHERE kind = $kind AND model_version = $model_version;

INSERT INTO statement_models
    (kind, model_version, trained_through, params, n_rows, model, blob_sha256, fitted_at)
VALUES ($kind, $model_version, CAST($trained_through AS DATE), CAST($params AS JSON), $n_rows,
        $model, $blob_sha256, CAST($fitted_at AS TIMESTAMPTZ))
