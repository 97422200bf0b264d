"""Files the project keeps at its top level that an installed wheel carries inside the package.

The project card keeps every query in ``sql/`` and Dagster's instance files beside
``workspace.yaml``. A wheel has no repository around it, so ``setup.py`` copies exactly
:data:`SHIPPED` into ``flowsync_pipelines/`` when it builds one; :func:`shipped` finds a file in
either layout. Standard library only: ``setup.py`` reads :data:`SHIPPED` before anything is
installed.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_DIR.parent
# Top-level names (folders or files) a wheel places inside the package.
SHIPPED = ("sql", "dagster.yaml", "dagster.postgres.yaml")


def shipped(relative: str) -> Path:
    """The path of ``relative`` (e.g. ``sql/duckdb``): inside the installed package when a wheel
    put it there, else in the checkout (an editable install or a source tree)."""
    top = Path(relative).parts[0]
    if top not in SHIPPED:
        message = f"{relative!r} is not shipped with the package; shipped: {', '.join(SHIPPED)}"
        raise ValueError(message)
    packaged = PACKAGE_DIR / relative
    return packaged if (PACKAGE_DIR / top).exists() else CHECKOUT_ROOT / relative
