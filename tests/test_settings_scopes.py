"""Each source type's ``scopes`` is a typed model: a misspelt key is an error naming the key and
the keys the type takes, and what is accepted reaches the connector."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml

from flowsync_pipelines.settings import (
    SCOPES,
    SourceConfig,
    SourceType,
    load_config,
)
from flowsync_pipelines.sources.git import GitScopes
from flowsync_pipelines.sources.gitlab import GitLabProject
from resources.git import GitResource
from resources.github import GitHubResource
from resources.gitlab import GitLabResource
from resources.sentry import SentryResource

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_scopes() -> dict[str, dict]:
    """The README's "Source types and their scopes" table: type -> its example scopes."""
    table = README.read_text(encoding="utf-8").split("Source types and their `scopes`", 1)[1]
    examples = {}
    for line in table.split("\n\n", 2)[1].splitlines()[2:]:
        cells = line.strip("|").split(" | ")
        flow = ", ".join(re.findall(r"`([^`]+)`", cells[2]))
        examples[cells[0].strip(" `")] = yaml.safe_load("{" + flow + "}")
    return examples


def _write(tmp_path: Path, source: dict) -> Path:
    path = tmp_path / "flowsync.yaml"
    path.write_text(yaml.safe_dump({"sources": [source]}, sort_keys=False), encoding="utf-8")
    return path


def test_every_source_type_has_a_scopes_model_and_the_readme_documents_its_keys() -> None:
    documented = _readme_scopes()
    assert set(SCOPES) == set(get_args(SourceType)) == set(documented)
    for source_type, example in documented.items():
        source = SourceConfig(name=source_type, type=source_type, scopes=example)
        assert isinstance(source.scopes, SCOPES[source_type])
        assert set(example) == set(SCOPES[source_type].model_fields), source_type


def test_a_misspelt_scopes_key_names_the_key_and_the_allowed_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "gh", "type": "github", "scopes": {"repo": ["acme/api"]}})
    with pytest.raises(
        ValueError,
        match=r"source 'gh' \(type github\): unknown scopes key 'repo'; "
        r"github takes: repos",
    ) as err:
        load_config(path)
    # The line of the misspelt key itself: sources / - name / type / scopes / repo.
    assert f"{path}:5: " in str(err.value)


def test_a_key_of_another_source_type_is_rejected_too() -> None:
    with pytest.raises(ValueError, match=r"unknown scopes key 'repos'; jira takes: projects"):
        SourceConfig(name="jira", type="jira", scopes={"projects": ["PAY"], "repos": ["a/b"]})


def test_a_scope_of_the_wrong_shape_is_rejected_with_its_place() -> None:
    with pytest.raises(ValueError, match=r"source 'gh' \(type github\): scopes\.repos"):
        SourceConfig(name="gh", type="github", scopes={"repos": "acme/api"})
    with pytest.raises(ValueError, match=r"scopes must be a mapping of repos"):
        SourceConfig(name="gh", type="github", scopes=["acme/api"])
    with pytest.raises(ValueError, match=r"organization names exactly one value"):
        SourceConfig(name="s", type="sentry", scopes={"organization": ["a", "b"]})


def test_accepted_scopes_reach_the_connectors(tmp_path: Path) -> None:
    config = load_config(
        _write(
            tmp_path, {"name": "git", "type": "git", "scopes": {"paths": ["/src"], "rev": "main"}}
        )
    )
    (git,) = config.sources
    resource = GitResource.from_source(git)
    assert (resource.paths, resource.rev) == (["/src"], "main")
    assert GitScopes.model_validate({"rev": ["v2"]}).rev == "v2"  # the README's list form

    github = SourceConfig(name="gh", type="github", scopes={"repos": ["acme/api", "acme/web"]})
    assert GitHubResource.from_source(github).repos == ["acme/api", "acme/web"]
    gitlab = SourceConfig(
        name="gl", type="gitlab", scopes={"projects": ["g/a", {"id": 7, "path": "g/b"}]}
    )
    assert gitlab.scopes.projects[1] == GitLabProject(id=7, path="g/b")
    built = GitLabResource.from_source(gitlab)
    assert (built.projects, built.project_ids) == (["g/a", "g/b"], {"g/b": 7})
    sentry = SourceConfig(
        name="s", type="sentry", scopes={"organization": "acme", "projects": ["api"]}
    )
    assert (
        SentryResource.from_source(sentry).organization,
        SentryResource.from_source(sentry).projects,
    ) == ("acme", ["api"])


def test_a_resource_given_another_tools_source_says_so() -> None:
    jira = SourceConfig(name="tracker", type="jira", scopes={"projects": ["PAY"]})
    with pytest.raises(ValueError, match=r"source 'tracker' is of type jira, not github"):
        GitHubResource.from_source(jira)


def test_a_source_name_that_cannot_name_an_asset_or_a_webhook_path_is_refused(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, {"name": "github-enterprise", "type": "github"})
    with pytest.raises(ValueError, match=r"String should match pattern") as err:
        load_config(path)
    assert f"{path}:2: " in str(err.value)  # sources / - name
    assert SourceConfig(name="github_enterprise", type="github").name == "github_enterprise"
