"""Run the gateway as a real process and sign deliveries the way each tool does.

For tests, the benchmark and anyone checking a deployment by hand: :func:`sign` produces the
body and headers a tool would send, :class:`GatewayProcess` runs ``flowsync webhooks serve`` as a
child process on loopback (so it can be killed with SIGKILL and restarted on the same port).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml

from flowsync_pipelines.env import CONFIG_ENV, HOME_ENV, METADATA_URL_ENV
from flowsync_pipelines.webhooks.providers import Provider, provider_for_source, providers

# The header a GitLab sender puts in X-Gitlab-Event for each kind of hook.
GITLAB_EVENT_HEADERS = {
    "push": "Push Hook",
    "tag_push": "Tag Push Hook",
    "issue": "Issue Hook",
    "note": "Note Hook",
    "merge_request": "Merge Request Hook",
    "pipeline": "Pipeline Hook",
    "job": "Job Hook",
    "deployment": "Deployment Hook",
    "release": "Release Hook",
    "system_hook": "System Hook",
}


def provider_for(route: str, sources: Mapping[str, str] | None = None) -> Provider:
    """The provider behind ``/webhooks/<route>``: a source name in ``sources``, else a type.

    Args:
        route: a source's name (looked up in ``sources``), a provider route (``ci``) or a type.
        sources: source name → type, as flowsync.yaml configures them (None: names are types).

    Raises:
        ValueError: ``route`` names no source and no type that sends webhooks.
    """
    source_type = (sources or {}).get(route, route)
    provider = provider_for_source(source_type) or providers().get(source_type)
    if provider is None:
        raise ValueError(f"no webhook provider for {route!r}")
    return provider


def sign(
    route: str,
    document: Mapping[str, Any] | bytes,
    secret: str,
    *,
    event: str | None = None,
    delivery_id: str | None = None,
    now_s: float | None = None,
    sources: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers the tool behind ``/webhooks/<route>`` would send for ``document``.

    ``route`` is a provider route or type (``github``, ``ci``), or a source's name when
    ``sources`` (name → type) says which type it is. The recipe is the provider's
    (``Provider.sign``, ``Provider.prepare_body``). A
    mapping is encoded as JSON (Figma's ``passcode`` and Linear's ``webhookTimestamp`` are
    added to it, as those tools do); bytes are sent as they are, to test malformed bodies.
    ``delivery_id`` defaults to a fresh UUID; ``event`` to nothing (the tool's default applies).
    """
    provider = provider_for(route, sources)
    if provider.sign is None:
        raise ValueError(f"no signing recipe for {route!r}")
    delivery_id = delivery_id or str(uuid.uuid4())
    if isinstance(document, bytes):
        body = document
    else:
        payload = dict(document)
        if provider.prepare_body is not None:
            payload = provider.prepare_body(payload, secret, now_s)
        body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": f"flowsync-harness/{route}"}
    return body, headers | provider.sign(body, secret, event, delivery_id)


def free_port() -> int:
    """A TCP port nobody listens on right now (the gateway binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_gateway_config(
    path: Path, secret_envs: Mapping[str, str], *, types: Mapping[str, str] | None = None
) -> Path:
    """A flowsync.yaml with one webhook-only source per entry of ``secret_envs``.

    Args:
        path: where to write it.
        secret_envs: source name → name of the env var holding its webhook secret.
        types: source name → type, for sources not named after their type (two GitHub
            sources, say); a name not listed is its type.
    """
    sources = [
        {"name": name, "type": (types or {}).get(name, name), "webhook_secret_env": env_name}
        for name, env_name in secret_envs.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"organisation": "webhooks", "sources": sources}))
    return path


def fresh_postgres_database(server_url: str) -> str:
    """Create an empty database on the server at ``server_url``; return its URL.

    Each gateway under test gets its own database, so queue contents never leak between tests.
    """
    url = sa.engine.make_url(server_url)
    name = f"flowsync_webhooks_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            # An identifier cannot be a bound parameter; this one is ours, hex digits only.
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


class GatewayProcess:
    """``flowsync webhooks serve`` in a child process on loopback."""

    def __init__(
        self,
        *,
        home: Path,
        config_file: Path,
        metadata_url: str,
        env: Mapping[str, str],
        port: int | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = list(args)
        self.env = {
            **os.environ,
            **env,
            HOME_ENV: str(home),
            CONFIG_ENV: str(config_file),
            METADATA_URL_ENV: metadata_url,
        }
        self.log_path = home / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 30.0) -> GatewayProcess:
        """Start the gateway and wait until ``/healthz`` answers 200."""
        self.home.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "flowsync_pipelines.cli",
            "webhooks",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited at start:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the gateway did not become healthy in {timeout_s} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM and wait for a graceful shutdown (SIGKILL after 15 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
