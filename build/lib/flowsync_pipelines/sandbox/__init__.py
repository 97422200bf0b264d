"""Local tool sandboxes: the simulated organisation served on loopback in each tool's wire format.

The demo and the tests reach the pipeline through the same connectors that talk to the real
tools; only ``base_url`` differs.
"""

from flowsync_pipelines.sandbox.app import Faults, Sandbox, SandboxServer, serve

__all__ = ["Faults", "Sandbox", "SandboxServer", "serve"]
