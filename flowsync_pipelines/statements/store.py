"""Fitted models of the predicted kinds, stored in the warehouse and loaded by version.

A model's version is the hash of its training window, its training data and its settings
(:func:`~.predict.model_version`), so a run whose version is already in ``statement_models``
loads that model instead of fitting it again: a re-run of a partition, or a run on a later day
of the same refit period (the refit's training window is unchanged), fits nothing. Any change to
the training data (an outcome settled late, an edited event) is a new version and a fit.

Every load checks the blob's SHA-256 against the one stored beside it; a mismatch (a corrupted
or edited blob), a blob that does not unpickle, or one pickled by another scikit-learn version
is refitted, overwritten and reported (:attr:`ModelStore.refitted`). Loading or fitting gives
the same statements: the fits are deterministic (one thread, fixed random state, no random
validation split) and a pickle round trip keeps every parameter.

Privacy: the features are counts, rates, ages and sizes, never an author's or a reviewer's
pseudonym, so a blob holds no personal data beyond thresholds over those numbers. An erasure
still drops every stored model (:func:`forget_models`, called by ``gdpr.forget_person``): they
were fitted on data that held the person, and the next run refits on the scrubbed data.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import sklearn

from flowsync_pipelines.statements.predict import Fitted
from flowsync_pipelines.warehouse import query, run_sql


@dataclass
class ModelStore:
    """The ``statement_models`` table of one warehouse connection, and what a run did with it:
    ``loaded`` and ``fitted`` hold ``kind:version`` once each; ``refitted`` says why a stored
    version was not usable."""

    con: duckdb.DuckDBPyConnection
    loaded: list[str] = field(default_factory=list)
    fitted: list[str] = field(default_factory=list)
    refitted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        run_sql(self.con, "statement_models_schema")

    def load(self, kind: str, version: str) -> Fitted | None:
        """The stored model of ``kind`` and ``version``; None when it is not stored or not
        usable (the reason goes to :attr:`refitted`)."""
        rows = query(self.con, "statement_models_read", kind=kind, model_version=version)
        if rows.is_empty():
            return None
        row = rows.row(0, named=True)
        blob = bytes(row["model"])
        subject = f"{kind}:{version}"
        params = json.loads(row["params"])
        if hashlib.sha256(blob).hexdigest() != row["blob_sha256"]:
            self.refitted.append(f"{subject}: stored blob does not match its SHA-256; refitted")
            return None
        if params.get("sklearn") != sklearn.__version__:
            self.refitted.append(
                f"{subject}: pickled by scikit-learn {params.get('sklearn')}, this is "
                f"{sklearn.__version__}; refitted"
            )
            return None
        try:
            # Only ever blobs this module wrote: pickle runs code on load, so the store must
            # never take blobs from elsewhere. The hash guards corruption, not tampering.
            model = pickle.loads(blob)
        except Exception as error:  # a blob the hash could not catch (written corrupt)
            self.refitted.append(f"{subject}: stored blob does not unpickle ({error}); refitted")
            return None
        _once(self.loaded, subject)
        return Fitted(params["model"], version, int(row["n_rows"]), params["positive_rate"], model)

    def save(
        self,
        kind: str,
        fitted: Fitted,
        window: tuple[date, date],
        settings: dict[str, Any],
        features: tuple[str, ...],
    ) -> None:
        """Store a model just fitted (replacing an unusable stored blob of its version)."""
        blob = pickle.dumps(fitted.model, protocol=pickle.HIGHEST_PROTOCOL)
        params = {
            "model": fitted.kind,
            "positive_rate": fitted.positive_rate,
            "training_window": [d.isoformat() for d in window],
            "features": list(features),
            "settings": settings,
            "sklearn": sklearn.__version__,
        }
        run_sql(
            self.con,
            "statement_models_write",
            kind=kind,
            model_version=fitted.version,
            trained_through=window[1],
            params=json.dumps(params, sort_keys=True),
            n_rows=fitted.rows,
            model=blob,
            blob_sha256=hashlib.sha256(blob).hexdigest(),
            fitted_at=datetime.now(UTC),
        )
        _once(self.fitted, f"{kind}:{fitted.version}")


def _once(found: list[str], subject: str) -> None:
    if subject not in found:
        found.append(subject)


def forget_models(con: duckdb.DuckDBPyConnection) -> int:
    """Drop every stored model (GDPR erasure); how many there were."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'statement_models'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    (count,) = query(con, "statement_models_forget").row(0)
    return int(count)
