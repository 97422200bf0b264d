"""A PNG of a standalone HTML digest, drawn by headless Chromium (the README's picture).

The page is written to a temporary folder and opened from disk with a throw-away profile; host
resolution maps every name to nowhere, so nothing is fetched (the digest's charts are inline SVG
and its styles inline). Chromium comes from the system (``make chromium`` installs the Debian
package); a missing binary is an error, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from flowsync_pipelines.env import CHROMIUM_ENV

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BINARIES = ("chromium", "chromium-browser", "google-chrome")


class ChromiumMissing(RuntimeError):
    pass


def chromium_binary() -> str:
    """The first Chromium on ``PATH`` (``FLOWSYNC_CHROMIUM`` names another)."""
    wanted = os.environ.get(CHROMIUM_ENV)
    for name in (wanted,) if wanted else BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissing(
        f"no Chromium found ({wanted or ', '.join(BINARIES)}): run `make chromium` "
        "(apt-get install chromium)"
    )


def screenshot_html(
    html: str,
    out: Path,
    *,
    width: int = 900,
    height: int = 1400,
    timeout: float = 120.0,
) -> Path:
    """Draw ``html`` at ``width`` × ``height`` CSS pixels into the PNG ``out``; returns ``out``."""
    binary = chromium_binary()
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flowsync-chromium-") as tmp:
        page = Path(tmp) / "digest.html"
        page.write_text(html, encoding="utf-8")
        shot = Path(tmp) / "shot.png"
        args = [
            binary,
            "--headless",
            "--disable-gpu",
            "--disable-dev-shm-usage",  # containers have a small /dev/shm
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-sync",
            "--disable-background-networking",
            "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # no network, even for a stray link
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--window-size={width},{height}",
            f"--screenshot={shot}",
            page.as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run sandboxed as root
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "HOME": tmp},  # crash dumps and caches stay in the temp folder
            check=False,
        )
        if done.returncode != 0 or not shot.exists():
            raise RuntimeError(
                f"Chromium exited {done.returncode} without a screenshot: {done.stderr[-2000:]}"
            )
        data = shot.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise RuntimeError("Chromium wrote something that is not a PNG")
    tmp_out = out.with_suffix(out.suffix + ".tmp")
    tmp_out.write_bytes(data)
    tmp_out.replace(out)
    return out


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (the first chunk, right after the signature)."""
    head = Path(path).read_bytes()[:24]
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
