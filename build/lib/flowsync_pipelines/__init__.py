"""FlowSync: cited, confidence-banded, pseudonymous engineering status digests.

This package is the Dagster-free core (settings, landing, normalisers, rendering) plus the root
``Definitions`` (:mod:`flowsync_pipelines.definitions`) and the ``flowsync`` CLI.
"""
