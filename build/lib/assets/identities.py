"""``identities``: every known account → a person pseudonym, with a confidence and a method."""

from pathlib import Path

import dagster as dg
import polars as pl

from assets.role_views import team_tables
from flowsync_pipelines import schema
from flowsync_pipelines.identity import (
    coactivity,
    fitted_model,
    load_overrides,
    override_coverage,
    read_vault,
    resolve_identities,
    save_identity_links,
    write_identities,
)
from resources.stores import (
    MetadataResource,
    OrganisationResource,
    PrivacyResource,
    WarehouseResource,
)

NEVER_MERGED_CHECK = "bots_and_deleted_never_merged"


def identities_asset(
    partitions_def: dg.PartitionsDefinition, *, overrides_file: Path
) -> dg.AssetsDefinition:
    """The asset, reading corrections from ``overrides_file`` (see ``identity.Overrides``)."""

    @dg.asset(
        name="identities",
        group_name="identities",
        kinds={"polars", "duckdb"},
        deps=["signals"],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec(NEVER_MERGED_CHECK, asset="identities", blocking=True)],
        description=(
            "Accounts across tools resolved to persons (commit and noreply emails, logins, "
            "names and login name forms, ticket/pull request co-activity, scored by a "
            "calibrated model; flowsync.yaml members and identities.yaml overrides). Links are "
            "in the metadata store (identity_links) and, pseudonyms only, in DuckDB (identities)."
        ),
    )
    def identities(
        context: dg.AssetExecutionContext,
        metadata: MetadataResource,
        organisation: OrganisationResource,
        privacy: PrivacyResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        # Resolution is global, not per day: every partition recomputes the same whole answer
        # from the vault, so a daily tick and a backfill agree and re-runs change nothing.
        config = organisation.config()
        key = privacy.pseudonym_key
        _, _, configured_rows = team_tables(config, key)
        overrides = load_overrides(overrides_file)
        with warehouse.connect() as con:
            coact = coactivity(con)
        store = metadata.store()
        try:
            vault = read_vault(store.engine)
            # Vault rows first: what a tool reported (e.g. that an account is a bot) wins over
            # what flowsync.yaml assumes about a member's handle.
            configured = pl.DataFrame(configured_rows, schema=schema.polars_schema(schema.ACCOUNTS))
            accounts = pl.concat([schema.conform(vault, schema.ACCOUNTS), configured]).unique(
                "pseudonym", keep="first", maintain_order=True
            )
            links = resolve_identities(
                accounts,
                overrides=overrides,
                key=key,
                members=[member for team in config.teams for member in team.members],
                coactivity=coact,
                model=fitted_model(),
            )
            save_identity_links(store.engine, links)
        finally:
            store.dispose()
        with warehouse.connect() as con:
            write_identities(con, links)

        never_merged = accounts.filter(pl.col("actor_kind").is_in(["bot", "deleted"])).select(
            "pseudonym"
        )
        person_sizes = links.group_by("person").len("accounts")
        wrongly_merged = (
            links.join(never_merged, on="pseudonym")
            .join(person_sizes, on="person")
            .filter(pl.col("accounts") > 1)
            .height
        )
        by_method = links.group_by("method").len("accounts").sort("method")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": links.height,
                "accounts": links.height,
                "persons": person_sizes.height,
                "persons_with_several_accounts": person_sizes.filter(pl.col("accounts") > 1).height,
                "accounts_by_method": dg.MetadataValue.json(dict(by_method.iter_rows())),
                "lowest_merge_confidence": float(
                    links.filter(pl.col("method") != "singleton").get_column("confidence").min()
                    or 1.0
                ),
                "coactivity_pairs": coact.height,
                "override_entries": dg.MetadataValue.json(
                    override_coverage(overrides, accounts, key)
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=NEVER_MERGED_CHECK,
                    passed=wrongly_merged == 0,
                    metadata={"bot_or_deleted_accounts_in_a_multi_account_person": wrongly_merged},
                )
            ],
        )

    return identities
