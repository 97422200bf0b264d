"""Privacy beside each store: the gdpr commands know no store, they iterate over the registered
ones — so a store added with its own scan, forget and export is searched, erased and exported
like landing or DuckDB, and the stores FlowSync ships all implement that one interface."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowsync_pipelines import landing_privacy, metadata_privacy
from flowsync_pipelines.gdpr import (
    OUTSIDE,
    Stores,
    export_person,
    find_person,
    forget_person,
    pii_scan,
    scrub_text,
)
from flowsync_pipelines.privacy import stores as privacy_stores
from flowsync_pipelines.privacy.interface import (
    Erasure,
    Export,
    Exported,
    PrivacyStore,
    Scan,
    replace_file,
)
from flowsync_pipelines.settings import Paths

MEMBER = {"name": "Robin Quist", "email": "robin.quist@example.org", "github": "rquist-dev"}


class NotesFile:
    """A store that is not FlowSync's: free-text notes, one per line, in ``notes.txt``."""

    raw_zone = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines()

    def scan(self, scan: Scan) -> None:
        scan.scanned.append("notes")
        for number, line in enumerate(self._lines(), start=1):
            for match in scan.identifiers.find(line):
                matched = line[match.start : match.end]
                scan.found.add("notes", "notes.txt", OUTSIDE, matched, match.kind, f"{number}")

    def forget(self, erasure: Erasure) -> dict[str, int]:
        lines = self._lines()
        scrubbed = [scrub_text(line, erasure.with_pseudonyms) for line in lines]
        changed = sum(a != b for a, b in zip(lines, scrubbed, strict=True))
        if changed:
            text = "\n".join(scrubbed) + "\n"
            replace_file(self.path, lambda target: target.write_text(text, encoding="utf-8"))
        return {"notes_lines": changed}

    def export(self, export: Export) -> Exported:
        mine = [line for line in self._lines() if export.identifiers.find(line)]
        return Exported(sections={"notes": mine}, counts={"notes": len(mine)})


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    home = tmp_path / "home"
    home.mkdir()
    config = home / "flowsync.yaml"
    config.write_text(
        yaml.safe_dump({"teams": [{"key": "core", "name": "Core", "members": [MEMBER]}]})
    )
    paths = Paths(home=home)
    return Stores(
        landing=paths.landing,
        duckdb=paths.duckdb,
        outbox=paths.outbox,
        metadata_url=f"sqlite:///{paths.metadata}",
        config_file=config,
    )


def test_a_registered_store_is_scanned_exported_and_erased_by_the_gdpr_commands(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = stores.duckdb.parent / "notes.txt"
    notes.write_text("call Robin Quist\nlunch at noon\nask rquist-dev for review\n")
    store = NotesFile(notes)
    assert isinstance(store, PrivacyStore)
    monkeypatch.setattr(privacy_stores, "STORES", (*privacy_stores.STORES, store))

    before = pii_scan(stores)
    (finding,) = [f for f in before.findings if f.store == "notes"]
    assert "notes" in before.stores_scanned and finding.violation and finding.matches == 2

    person = find_person(stores, MEMBER["email"])
    exported = export_person(stores, person)
    assert exported["notes"] == ["call Robin Quist", "ask rquist-dev for review"]
    assert exported["counts"]["notes"] == 2

    report = forget_person(stores, person)
    assert report.counts == {"notes_lines": 2}
    assert notes.read_text() == "call [erased]\nlunch at noon\nask [erased] for review\n"
    assert not [f for f in pii_scan(stores).findings if f.store == "notes"]


def test_every_shipped_store_implements_the_interface_landing_first_and_the_vault_last() -> None:
    # Landing first: derived stores follow the landing_refs its erasure rewrote. The vault last:
    # an interrupted erasure can be re-run and still find the person.
    shipped = privacy_stores.STORES
    assert all(isinstance(store, PrivacyStore) for store in shipped)
    assert isinstance(shipped[0], landing_privacy.LandingPrivacy)
    assert isinstance(shipped[-1], metadata_privacy.IdentityVaultPrivacy)
    assert [s for s in shipped if s.raw_zone] == [shipped[0]]
