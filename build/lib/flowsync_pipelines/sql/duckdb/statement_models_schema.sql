-- Fitted models of the predicted statement kinds, one row per kind and version: a run whose
-- model version is here loads it instead of fitting it again (statements/store.py).
CREATE TABLE IF NOT EXISTS statement_models (
    kind            VARCHAR NOT NULL,      -- statement kind: pr_will_stall | sprint_at_risk | ...
    model_version   VARCHAR NOT NULL,      -- hash of training window, data and settings (12 hex)
    trained_through DATE NOT NULL,         -- trained on outcomes settled before this day
    params          JSON NOT NULL,         -- learner, base rate, window, features, settings
    n_rows          BIGINT NOT NULL,       -- training snapshots
    model           BLOB NOT NULL,         -- pickled scikit-learn estimator (pickled None: prior)
    blob_sha256     VARCHAR NOT NULL,      -- SHA-256 of model, checked on every load
    fitted_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, model_version)
)
