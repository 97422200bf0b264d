"""Identity resolution: tool accounts → persons, each link with a calibrated confidence and a
method. See :mod:`.resolve` for the rules, :mod:`.evidence` for the evidence and its rails,
:mod:`.calibrate` for the model and :mod:`.evaluate` for measuring against a simulated world."""

from flowsync_pipelines.identity.calibrate import IdentityModel, fitted_model
from flowsync_pipelines.identity.evaluate import evaluate_identities, webhook_view
from flowsync_pipelines.identity.evidence import coactivity, pair_features
from flowsync_pipelines.identity.overrides import (
    IDENTITIES_ENV,
    Overrides,
    load_overrides,
    overrides_path,
)
from flowsync_pipelines.identity.resolve import (
    KEEP_THRESHOLD,
    METHOD_CONFIDENCE,
    candidate_links,
    override_coverage,
    resolve_identities,
)
from flowsync_pipelines.identity.store import (
    identity_links,
    read_vault,
    save_identity_links,
    write_identities,
)

__all__ = [
    "IDENTITIES_ENV",
    "KEEP_THRESHOLD",
    "METHOD_CONFIDENCE",
    "IdentityModel",
    "Overrides",
    "candidate_links",
    "coactivity",
    "evaluate_identities",
    "fitted_model",
    "identity_links",
    "load_overrides",
    "override_coverage",
    "overrides_path",
    "pair_features",
    "read_vault",
    "resolve_identities",
    "save_identity_links",
    "webhook_view",
    "write_identities",
]
