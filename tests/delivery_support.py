"""Helpers for the delivery tests: digests of a chosen size, subscriptions, a TLS certificate."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flowsync_pipelines.delivery.compose import outbox_rows
from flowsync_pipelines.delivery.model import DigestModel, from_digest
from flowsync_pipelines.digest import Citation, Digest, Group, Section, Statement
from flowsync_pipelines.settings import DigestSubscription

DAY = dt.date(2026, 3, 30)
HTML_BASE = "https://flowsync.example/digests"


def digest(team: str, n: int, *, text_len: int = 60, team_name: str | None = None) -> Digest:
    """An engineering-manager digest with ``n`` risk statements in two groups plus two facts."""

    def statement(i: int, kind: str, confidence: float) -> Statement:
        text = f"{team} pull request #{i} waits for review " + "x" * max(text_len - 40, 0)
        url = f"https://github.example/acme/{team}/pull/{i}"
        return Statement(
            kind=kind,
            text=text[:text_len],
            confidence=confidence,
            citations=[Citation(label=f"{team}#{i}", url=url)],
        )

    half = n // 2
    groups = [
        Group(
            title="Pull requests waiting for a first review",
            lines=[statement(i, "pr_waiting_for_review", 0.9) for i in range(half)],
        ),
        Group(
            title="Pull requests at risk of stalling",
            lines=[statement(i, "pr_will_stall", 0.7) for i in range(half, n)],
            more=3 if n else 0,
        ),
    ]
    return Digest(
        team_key=team,
        team_name=team_name or team.capitalize(),
        role="engineering_manager",
        as_of=DAY - dt.timedelta(days=1),
        statements=[statement(1000, "open_pull_requests", 1.0)] if n else [],
        sections=[Section(title="Risks", groups=groups)] if n else [],
    )


def model(sub: DigestSubscription, d: Digest) -> DigestModel:
    return from_digest(d, key=f"{sub.id}/{DAY}", html_url=f"{HTML_BASE}/{sub.id}.html")


def subscription(sid: str, channels: list[str], **extra: object) -> DigestSubscription:
    return DigestSubscription(id=sid, teams=[sid.split("-")[0]], channels=channels, **extra)


def rows_for(subs: list[DigestSubscription], sizes: list[int], **kw: object) -> list[dict]:
    rows = []
    for sub, n in zip(subs, sizes, strict=True):
        rows += outbox_rows(sub, DAY, model(sub, digest(sub.teams[0], n, **kw)))
    return rows


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files); the certificate is its own CA."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
