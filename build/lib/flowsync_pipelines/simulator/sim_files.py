"""Repository file trees and the files each commit changes.

Every repository gets a file tree typical of its language; every commit changes a few files of
it. A pull request works in one area of the code (most of its commits touch that area's files,
sometimes with their tests), dependency bumps change manifests, and a merge commit changes what
its pull request changed (its diff against the first parent). Incidents raise in these files,
so an incident's culprit can be traced to the deployment that changed it.

Drawn from its own random stream (``<seed>:files``) after the code simulation, so adding files
changes nothing else in a world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .ids import hex_id, int_from
from .model import PullRequest
from .org import Repo

# language -> {area: [source files]}; the first file names are the ones the demo's incidents
# always raised in, so they exist in every repository of that language.
_SOURCES: dict[str, dict[str, list[str]]] = {
    "python": {
        "api": ["app/api/views.py", "app/api/routes.py", "app/api/schemas.py", "app/api/auth.py"],
        "payments": [
            "app/payments/refunds.py",
            "app/payments/charges.py",
            "app/payments/ledger.py",
            "app/payments/currency.py",
        ],
        "db": ["app/db/models.py", "app/db/session.py", "app/db/migrations.py"],
        "clients": ["app/clients/http.py", "app/clients/stripe.py", "app/clients/retry.py"],
        "jobs": ["app/jobs/invoice.py", "app/jobs/scheduler.py", "app/jobs/exports.py"],
        "core": ["app/core/config.py", "app/core/logging.py", "app/core/flags.py"],
    },
    "go": {
        "handlers": ["handlers/session.go", "handlers/login.go", "handlers/health.go"],
        "proxy": ["proxy/upstream.go", "proxy/router.go", "proxy/ratelimit.go"],
        "auth": ["auth/jwks.go", "auth/tokens.go", "auth/scopes.go"],
        "store": ["store/redis.go", "store/postgres.go", "store/cache.go"],
        "internal": [
            "internal/config/config.go",
            "internal/metrics/metrics.go",
            "cmd/server/main.go",
        ],
    },
    "typescript": {
        "screens": [
            "src/screens/Checkout.tsx",
            "src/screens/Home.tsx",
            "src/screens/Profile.tsx",
            "src/screens/Search.tsx",
        ],
        "api": ["src/api/client.ts", "src/api/orders.ts", "src/api/session.ts"],
        "state": ["src/state/cart.ts", "src/state/user.ts", "src/state/store.ts"],
        "components": [
            "src/components/Carousel.tsx",
            "src/components/Button.tsx",
            "src/components/PriceTag.tsx",
        ],
        "core": ["src/index.ts", "src/config.ts", "src/utils/format.ts"],
    },
}
_MANIFESTS = {
    "python": ["pyproject.toml", "requirements.txt"],
    "go": ["go.mod", "go.sum"],
    "typescript": ["package.json", "package-lock.json"],
}
_DOCS = ["README.md", "docs/architecture.md", "docs/runbook.md", "CHANGELOG.md"]
# Framework frames that sit under the application's frames in a stack trace.
FRAMEWORK_FRAMES: dict[str, list[tuple[str, str]]] = {
    "python": [
        ("django/core/handlers/base.py", "_get_response"),
        ("django/core/handlers/exception.py", "inner"),
    ],
    "go": [
        ("net/http/server.go", "(*conn).serve"),
        ("net/http/server.go", "HandlerFunc.ServeHTTP"),
    ],
    "typescript": [
        ("node_modules/react-native/Libraries/Core/Timers/JSTimers.js", "_callTimer"),
        ("node_modules/regenerator-runtime/runtime.js", "invoke"),
    ],
}
_FUNCTIONS = {
    "python": ["handle", "process", "validate", "render", "save", "fetch", "apply", "run"],
    "go": ["Handle", "Refresh", "Verify", "Get", "Set", "RoundTrip", "Serve", "Load"],
    "typescript": ["handleSubmit", "fetchJson", "recompute", "onScroll", "render", "load", "main"],
}


def _test_file(language: str, source: str) -> str:
    if language == "python":
        return "tests/test_" + source.rsplit("/", 1)[1]
    if language == "go":
        return source[: -len(".go")] + "_test.go"
    stem, _, ext = source.rpartition(".")
    return f"{stem}.test.{ext}"


@dataclass(frozen=True)
class FileTree:
    """One repository's files by kind."""

    language: str
    areas: dict[str, list[str]]
    manifests: list[str]
    docs: list[str]

    @property
    def sources(self) -> list[str]:
        return [f for files in self.areas.values() for f in files]

    def tests_of(self, source: str) -> str:
        return _test_file(self.language, source)

    def all_files(self) -> list[str]:
        tests = [self.tests_of(s) for s in self.sources]
        return sorted({*self.sources, *tests, *self.manifests, *self.docs})


# Module names a grown code base adds to each area (``modules_per_area`` of the conventions):
# real services have hundreds of files, so a file changed by chance is rarer than in a toy tree.
_MODULE_WORDS = (
    "service",
    "handlers",
    "validators",
    "serializers",
    "events",
    "errors",
    "types",
    "helpers",
    "adapters",
    "policies",
    "limits",
    "cache",
    "queries",
    "mappers",
    "metrics",
    "hooks",
    "audit",
    "filters",
    "pagination",
    "webhooks",
)


def _module(base: str, word: str) -> str:
    folder, _, name = base.rpartition("/")
    ext = name.rpartition(".")[2]
    stem = word.capitalize() if ext == "tsx" else word
    return f"{folder}/{stem}.{ext}" if folder else f"{stem}.{ext}"


def file_tree(repo: Repo, modules_per_area: int = 0) -> FileTree:
    """The file tree of ``repo``: its language's files, plus ``modules_per_area`` more modules
    in each area (the same for every seed)."""
    ci = ".github/workflows/ci.yml" if repo.host == "github" else ".gitlab-ci.yml"
    areas = {
        area: sorted(
            {*files, *(_module(files[0], w) for w in _MODULE_WORDS[:modules_per_area])},
            key=lambda f: (f not in files, f),
        )
        for area, files in _SOURCES[repo.language].items()
    }
    return FileTree(
        language=repo.language,
        areas=areas,
        manifests=list(_MANIFESTS[repo.language]),
        docs=[*_DOCS, ci],
    )


def is_source(path: str) -> bool:
    """Application code an error can be raised in (not tests, manifests, docs or CI files)."""
    name = path.rsplit("/", 1)[-1]
    return (
        path.endswith((".py", ".go", ".ts", ".tsx"))
        and not path.startswith("tests/")
        and "_test." not in name
        and ".test." not in name
    )


def functions_of(language: str, path: str) -> list[str]:
    """Three function names defined in ``path`` (deterministic)."""
    pool = _FUNCTIONS[language]
    start = int_from(0, len(pool) - 1, "functions", path)
    return [pool[(start + i) % len(pool)] for i in range(3)]


def assign_commit_files(
    repos: dict[str, Repo], pulls: list[PullRequest], seed: int, modules_per_area: int = 0
) -> None:
    """Give every commit of ``pulls`` (pushed and merge commits) the files it changes."""
    rng = random.Random(f"{seed}:files")
    trees = {name: file_tree(repo, modules_per_area) for name, repo in repos.items()}
    for pr in sorted(pulls, key=lambda p: p.key):
        tree = trees[pr.repo]
        commits = [c for push in pr.pushes for c in push.commits]
        area = rng.choice(sorted(tree.areas))
        for commit in commits:
            if pr.kind == "deps":
                changed = set(tree.manifests)
            elif pr.kind == "docs":
                changed = set(rng.sample(tree.docs, rng.randint(1, 2)))
            else:
                changed = set()
                for _ in range(rng.choices([1, 2, 3, 4], [35, 35, 20, 10])[0]):
                    pool = tree.areas[area] if rng.random() < 0.8 else tree.sources
                    source = rng.choice(pool)
                    changed.add(source)
                    if rng.random() < 0.35:
                        changed.add(tree.tests_of(source))
                if rng.random() < 0.05:
                    changed.add(rng.choice(tree.manifests + tree.docs))
            commit.files = sorted(changed)
        if pr.merge_commit is not None:
            pr.merge_commit.files = sorted({f for c in commits for f in c.files})


@dataclass(frozen=True)
class FileChange:
    """One file of a commit's diff."""

    path: str
    status: str  # added | modified | removed | renamed (the simulator only modifies)
    additions: int
    deletions: int
    blob_sha: str
    line: int

    @property
    def patch(self) -> str:
        """A unified-diff hunk of the right size (content is placeholder text)."""
        removed = "".join(f"-    old line {i}\n" for i in range(self.deletions))
        added = "".join(f"+    new line {i}\n" for i in range(self.additions))
        return (
            f"@@ -{self.line},{self.deletions} +{self.line},{self.additions} @@\n{removed}{added}"
        ).rstrip("\n")


def file_changes(seed: int, sha: str, files: list[str]) -> list[FileChange]:
    """The diff stats of each file a commit changed (deterministic per commit and file)."""
    out = []
    for path in files:
        additions = int_from(0, 40, seed, "additions", sha, path)
        deletions = int_from(0 if additions else 1, 25, seed, "deletions", sha, path)
        out.append(
            FileChange(
                path=path,
                status="modified",
                additions=additions,
                deletions=deletions,
                blob_sha=hex_id(40, seed, "blob", sha, path),
                line=int_from(1, 300, seed, "hunk", sha, path),
            )
        )
    return out
