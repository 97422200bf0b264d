-- One stored model by kind and version (none when it was never stored).
SELECT params, n_rows, model, blob_sha256
FROM statement_models
WHERE kind = $kind AND model_version = $model_version
