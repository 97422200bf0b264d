"""The outbox's privacy: rendered digests (files), which may name people to those allowed to see
them, but never show a login or an email, nor anything of an erased person.

``forget`` scrubs identifiers and display names to ``[erased]`` (JSON files are rewritten as JSON,
in their own layout; HTML as escaped by the templates) and replaces each file atomically.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowsync_pipelines.privacy.findings import DELIVERED
from flowsync_pipelines.privacy.identifiers import (
    IdentifierKind,
    IdentifierSet,
    scrub_json,
    scrub_text,
)
from flowsync_pipelines.privacy.interface import Erasure, Export, Exported, Scan, replace_file


def _outbox_files(root: Path) -> list[Path]:
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".tmp"))


def _readable(path: Path, text: str) -> str:
    """The text a reader of the file sees (HTML entities decoded)."""
    return html.unescape(text) if path.suffix.lower() in {".html", ".htm"} else text


def _json_layout(text: str, document: Any) -> Callable[[Any], str]:
    """A serialiser that reproduces ``text``'s own layout (indent, escaping, final newline)."""
    newline = "\n" if text.endswith("\n") else ""
    layouts = [
        {"indent": indent, "ensure_ascii": ascii_only, "separators": separators}
        for indent in (1, 2, 4, None)
        for ascii_only in (False, True)
        for separators in (None, (",", ":"))
    ]
    for layout in layouts:
        if json.dumps(document, **layout) + newline == text:  # type: ignore[arg-type]
            return lambda doc, how=layout: json.dumps(doc, **how) + newline  # type: ignore[arg-type]
    return lambda doc: json.dumps(doc, indent=1, ensure_ascii=False) + newline


def _scrub_outbox_file(path: Path, identifiers: IdentifierSet) -> str | None:
    """The scrubbed content of one rendered digest, or None when it names nobody erased."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except ValueError:
            new = scrub_text(text, identifiers)
        else:
            scrubbed = scrub_json(document, identifiers)
            new = text if scrubbed is document else _json_layout(text, document)(scrubbed)
    elif path.suffix.lower() in {".html", ".htm"}:
        # Templates escape "O'Brien" as O&#39;Brien (Jinja) or O&#x27;Brien (html.escape).
        variants = {html.escape(i) for i in identifiers.patterns()}
        variants |= {v.replace("&#x27;", "&#39;").replace("&quot;", "&#34;") for v in variants}
        escaped = IdentifierSet({v: IdentifierKind(erased=True) for v in variants}, min_length=1)
        new = scrub_text(scrub_text(text, identifiers), escaped)
    else:
        new = scrub_text(text, identifiers)
    return None if new == text else new


class OutboxPrivacy:
    """The outbox's side of :class:`~flowsync_pipelines.privacy.interface.PrivacyStore`."""

    raw_zone = False

    def scan(self, scan: Scan) -> None:
        root = scan.stores.outbox
        scan.scanned.append("outbox")
        files = _outbox_files(root)
        scan.say(f"scanning the outbox: {len(files)} files …")
        for path in files:
            try:
                text = _readable(path, path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                continue
            relative = str(path.relative_to(root))
            for number, line in enumerate(text.splitlines(), start=1):
                for match in scan.identifiers.find(line):
                    scan.found.add(
                        "outbox",
                        "digests",
                        DELIVERED,
                        line[match.start : match.end],
                        match.kind,
                        f"{relative}:{number}",
                    )

    def forget(self, erasure: Erasure) -> dict[str, int]:
        """Scrub rendered digests; SHA-256 before -> after go to ``erasure.rewritten_files``."""
        files = _outbox_files(erasure.stores.outbox)
        erasure.say(f"scrubbing the outbox: {len(files)} files …")
        hashes = erasure.rewritten_files
        for path in files:
            new = _scrub_outbox_file(path, erasure.with_pseudonyms)
            if new is None:
                continue
            old = hashlib.sha256(path.read_bytes()).hexdigest()
            replace_file(path, lambda target, text=new: target.write_text(text, encoding="utf-8"))
            hashes[old] = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"outbox_files": len(hashes)}

    def export(self, export: Export) -> Exported:
        """Every digest line that names the person, with its file and line number."""
        root = export.stores.outbox
        export.say("reading digests in the outbox …")
        lines = []
        for path in _outbox_files(root):
            try:
                text = _readable(path, path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if export.identifiers.find(line):
                    lines.append(
                        {"file": str(path.relative_to(root)), "line": number, "text": line}
                    )
        return Exported(sections={"outbox_lines": lines}, counts={"outbox_lines": len(lines)})
