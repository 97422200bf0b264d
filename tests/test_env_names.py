"""Environment variable names are defined once, in ``flowsync_pipelines/env.py``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flowsync_pipelines import env

REPO = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"(FLOWSYNC|NEO4J|DAGSTER)_[A-Z0-9_]+")


def _declared() -> list[str]:
    names = [v for k, v in vars(env).items() if k.endswith("_ENV") and isinstance(v, str)]
    return names + list(env.DELIVERY_SETTINGS_ENV)


def test_each_variable_is_declared_once_under_one_name() -> None:
    declared = _declared()
    assert len(declared) == len(set(declared))
    assert all(_NAME.fullmatch(name) for name in declared)
    assert {env.HOME_ENV, env.CONFIG_ENV, env.PSEUDONYM_KEY_ENV, env.SIGNING_KEY_ENV} <= set(
        declared
    )


def test_no_product_module_spells_a_variable_name_out() -> None:
    own = REPO / "flowsync_pipelines" / "env.py"
    offenders = []
    for folder in ("flowsync_pipelines", "assets", "resources"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == own:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and _NAME.fullmatch(str(node.value)):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value}")
    assert not offenders, "import the name from flowsync_pipelines.env:\n" + "\n".join(offenders)


def test_the_readme_documents_only_declared_variables() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Configuration\n", 1)[1].split("`flowsync.yaml`:", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.M))
    assert documented and documented <= set(_declared())
