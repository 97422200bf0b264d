"""What a PII scan reports: findings per store and location, by zone, identifiers masked."""

from __future__ import annotations

from dataclasses import dataclass, field

from flowsync_pipelines.privacy.identifiers import IdentifierKind, mask

# Zones a finding can be in; only OUTSIDE (and an erased person anywhere but CONFIG) fails.
RAW = "raw zone (allowed)"
DELIVERED = "delivered digests (names allowed)"
VAULT = "identity vault"
CONFIG = "flowsync.yaml (admin input)"
OUTSIDE = "outside the vault"
AUDIT = "audit log (pseudonyms allowed)"  # signed and append-only: erasure cannot rewrite it


@dataclass
class Finding:
    """Identifier occurrences in one place (store + location), in one zone."""

    store: str
    location: str
    zone: str
    erased: bool
    matches: int = 0
    identifiers: list[str] = field(default_factory=list)  # masked, a few
    samples: list[str] = field(default_factory=list)  # where, a few

    @property
    def violation(self) -> bool:
        return self.zone == OUTSIDE or (self.erased and self.zone not in (CONFIG, AUDIT))


@dataclass
class ScanReport:
    """What the PII scan found, per store; ``clean`` when nothing violates the rules."""

    findings: list[Finding]
    stores_scanned: list[str]
    known_identifiers: int
    erased_identifiers: int
    seconds: float = 0.0

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.violation]

    @property
    def clean(self) -> bool:
        return not self.violations

    def total(self, *, zone: str | None = None, violations_only: bool = False) -> int:
        return sum(
            f.matches
            for f in self.findings
            if (zone is None or f.zone == zone) and (f.violation or not violations_only)
        )

    def render(self) -> str:
        """A human-readable report (identifiers masked)."""
        lines = [
            f"PII scan of {', '.join(self.stores_scanned)}: {self.known_identifiers} known "
            f"identifiers, {self.erased_identifiers} erased ones (as digests), "
            f"{self.seconds:.1f} s."
        ]
        order = {OUTSIDE: 0, VAULT: 1, DELIVERED: 2, RAW: 3, CONFIG: 4}
        for finding in sorted(
            self.findings,
            key=lambda f: (not f.violation, order.get(f.zone, 9), f.store, f.location),
        ):
            status = (
                "VIOLATION"
                if finding.violation
                else ("warning" if finding.zone == CONFIG else "ok")
            )
            who = "erased person" if finding.erased else "known person"
            lines.append(
                f"  [{status}] {finding.store}:{finding.location} — {finding.matches} matches of "
                f"{who} identifiers ({finding.zone}); e.g. {', '.join(finding.identifiers)}"
                + (f" at {'; '.join(finding.samples)}" if finding.samples else "")
            )
            if finding.zone == CONFIG:
                lines.append(
                    "      remove the erased person from flowsync.yaml, or the next run "
                    "re-creates their vault rows and names them in digests"
                )
        verdict = (
            "clean: no identifiers outside the vault and the raw zone, none of an erased person"
            if self.clean
            else f"{len(self.violations)} violations"
        )
        lines.append(verdict)
        return "\n".join(lines)


class Findings:
    """Collects matches into findings, a few masked examples and sample locations each."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self.by_key: dict[tuple[str, str, str, bool], Finding] = {}

    def add(
        self, store: str, location: str, zone: str, matched: str, kind: IdentifierKind, sample: str
    ) -> None:
        if zone == DELIVERED and (kind.erased or not kind.name):
            zone = OUTSIDE  # digests may name people; logins, emails, the erased: never
        key = (store, location, zone, kind.erased)
        finding = self.by_key.setdefault(key, Finding(store, location, zone, kind.erased))
        finding.matches += 1
        masked = mask(matched)
        if masked not in finding.identifiers and len(finding.identifiers) < self.samples:
            finding.identifiers.append(masked)
        if sample and sample not in finding.samples and len(finding.samples) < self.samples:
            finding.samples.append(sample)
