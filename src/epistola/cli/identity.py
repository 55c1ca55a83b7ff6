"""`epistola identity …`: resolve a file stand-alone, train and configure the matcher, work the review
queue, explain merges, merge, unmerge and split customers, match one record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml

from epistola.cli.common import app_of, console, read_definition, table
from epistola.errors import InputError
from epistola.identity import explain as explaining
from epistola.identity import merging, review, store
from epistola.identity.golden import Survivorship
from epistola.identity.matcher import MatchConfig

identity_app = typer.Typer(
    help="Identity resolution: who is who, why, and how to correct it.\n\n"
    "Batch resolution of the customer base runs with `epistola customers resolve` (and `import`).",
    no_args_is_help=True,
)

ACTOR = "cli"


def record_ref(conn: Any, ref: str) -> int:
    """A record named by its id (42) or by source and key (crm_intl:C0000042)."""
    if ref.isdigit():
        return int(ref)
    source, sep, key = ref.partition(":")
    if not sep or not source or not key:
        raise InputError(f"{ref!r} is not a record: use its id (42) or SOURCE:KEY (crm_intl:C0000042)")
    return store.record_id_for(conn, source, key)


@identity_app.command("resolve")
def resolve_file_cmd(
    input_file: Path = typer.Argument(..., metavar="INPUT", help="CSV (or JSON Lines) of person records."),
    mapping: Path = typer.Option(..., "--mapping", "-m", help="Mapping YAML: the key column and person fields."),
    out: Path = typer.Option(Path("clusters.csv"), "--out", "-o", help="Where to write record_id,cluster_id."),
    pairs: Path = typer.Option(None, "--pairs", help="Also write the scored pairs (merged and uncertain)."),
    model_out: Path = typer.Option(None, "--save-model", help="Write the trained model (JSON) here."),
    model_in: Path = typer.Option(None, "--model", help="Use a saved model instead of training on the file."),
    auto: float = typer.Option(MatchConfig.auto_threshold, help="Merge pairs at or above this probability."),
    review_at: float = typer.Option(MatchConfig.review_threshold, "--review", help="List uncertain pairs from here."),
    workers: int = typer.Option(0, help="Processes for normalising (0: up to 4, one per core)."),
    backend: str = typer.Option("duckdb", help="Where Splink runs: duckdb (in process) or spark."),
    spark_master: str = typer.Option("local[*]", help="Spark master URL, with --backend spark."),
) -> None:
    """Resolve any file of person records without a database: one cluster id per record.

    Example: epistola identity resolve people.csv --mapping people.yaml --out clusters.csv --pairs pairs.csv

    With --backend spark the same model runs on Spark through Splink's Spark backend (pyspark and Java 17+).

    The mapping is the import mapping format (docs/mappings.md, docs/identity.md): `key` names the
    record id column, `fields` map columns to first_name, last_name, birth_date, email, phone, address...
    """
    from epistola.identity.standalone import load_params, resolve_file

    if backend not in ("duckdb", "spark"):
        raise InputError(f"unknown backend {backend!r}: use duckdb or spark")
    result = resolve_file(
        input_file,
        mapping,
        out,
        config=MatchConfig(auto_threshold=auto, review_threshold=review_at),
        params=load_params(model_in) if model_in else None,
        pairs_out=pairs,
        model_out=model_out,
        workers=workers or None,
        spark_master=spark_master if backend == "spark" else None,
        say=lambda s: console.print(f"[dim]{s}[/]"),
    )
    console.print(
        f"{result.records:,} records → {result.clusters:,} clusters in {out}"
        f"{'' if not pairs else f'; pairs in {pairs}'}; {result.review:,} uncertain pairs; "
        f"{result.rejected:,} rows rejected; model {'trained on the file' if result.trained else 'given'}"
    )
    for problem in result.problems[:5]:
        console.print(f"  [yellow]rejected[/] {problem}")


@identity_app.command("train")
def train_cmd(ctx: typer.Context, note: str = typer.Option("", help="Why (kept with the model version).")) -> None:
    """Train a new model version on the records in the store (no labels needed; accepted review pairs
    refine it). The next `customers resolve` uses it.

    Example: epistola identity train --note "after the spring CRM load"
    """
    from epistola.identity.resolve import train_model

    app = app_of(ctx)
    with app.engine.begin() as conn:
        version = train_model(conn, now=app.clock(), actor=ACTOR, note=note)
    console.print(f"identity model version {version} stored; run `epistola customers resolve` to apply it")


@identity_app.command("models")
def models_cmd(
    ctx: typer.Context, show: int | None = typer.Option(None, help="Show one version's parameters.")
) -> None:
    """The stored model versions, or one version's m and u per comparison level.

    Example: epistola identity models --show 1
    """
    from epistola.identity.params import ModelParams

    app = app_of(ctx)
    with app.engine.connect() as conn:
        if show is None:
            rows = [
                [
                    m.version,
                    m.created_at.isoformat(timespec="seconds"),
                    m.created_by,
                    m.params.get("trained", {}).get("method"),
                    m.config.get("auto_threshold"),
                    m.config.get("review_threshold"),
                    m.note,
                ]
                for m in store.list_models(conn)
            ]
            console.print(table("Identity models", ["version", "created", "by", "how", "auto", "review", "note"], rows))
            return
        model = store.model_version(conn, show)
    params = ModelParams.from_json(model.params)
    rows = [
        [comp, label, f"{p.m:.4f}", f"{p.u:.2e}", f"{p.weight:+.1f}"]
        for comp, levels in params.levels.items()
        for label, p in levels.items()
    ]
    console.print(f"prior (two random records match): {params.prior:.3g}; trained: {params.trained}")
    console.print(table(f"Model {model.version}", ["comparison", "level", "m", "u", "bits"], rows))


@identity_app.command("configure")
def configure_cmd(
    ctx: typer.Context,
    auto: float = typer.Option(None, help="Merge automatically at or above this probability."),
    review_at: float = typer.Option(None, "--review", help="Send pairs from this probability to review."),
    deterministic: list[str] = typer.Option(None, help="A key column that identifies a person outright (repeat)."),
    survivorship: Path = typer.Option(None, help="YAML: {default: most_trusted, rules: {email: most_recent}}."),
    note: str = typer.Option("", help="Why."),
) -> None:
    """Change thresholds, deterministic rules or survivorship (a new model version, same parameters).

    Example: epistola identity configure --auto 0.9 --review 0.5 --survivorship survivorship.yaml
    """
    from epistola.identity.resolve import IdentityConfig, configure, current_config

    app = app_of(ctx)
    with app.engine.begin() as conn:
        config, _, _ = current_config(conn)
        data = config.as_json()
        if auto is not None:
            data["auto_threshold"] = auto
        if review_at is not None:
            data["review_threshold"] = review_at
        if deterministic:
            data["deterministic"] = list(deterministic)
        if survivorship is not None:
            data["survivorship"] = Survivorship.from_json(read_definition(survivorship)).as_json()
        version = configure(conn, IdentityConfig.from_json(data), now=app.clock(), actor=ACTOR, note=note)
    console.print(f"identity configuration stored as model version {version}:")
    console.print(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@identity_app.command("review")
def review_cmd(
    ctx: typer.Context,
    limit: int = typer.Option(20, help="How many pairs to list."),
    below: float = typer.Option(None, help="Only pairs below this probability (to page on)."),
) -> None:
    """Pairs the model was not sure about, most likely first. Decide with `identity decide`.

    Example: epistola identity review --limit 10
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = review.pending(conn, limit=limit, below=below)
        total = store.review_count(conn)
    console.print(
        table(
            f"Review queue ({total:,} pairs)",
            ["link", "probability", "record", "record", "why"],
            [
                [
                    r["id"],
                    f"{r['probability']:.3f}",
                    f"{r['left']['source']}:{r['left']['key']}",
                    f"{r['right']['source']}:{r['right']['key']}",
                    r["reason"],
                ]
                for r in rows
            ],
        )
    )
    if rows:
        console.print(f"See why: epistola identity pair {rows[0]['record_l']} {rows[0]['record_r']}")


@identity_app.command("decide")
def decide_cmd(
    ctx: typer.Context,
    link: int = typer.Argument(..., help="The review-queue link id."),
    decision: str = typer.Argument(..., help="match or no_match."),
    note: str = typer.Option("", help="Why (kept with the decision)."),
) -> None:
    """Decide a pair from the review queue; the decision overrides the model on every later run.

    Example: epistola identity decide 1234 match --note "same card number on the paper form"
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        done = review.decide_link(conn, link, decision, now=app.clock(), actor=ACTOR, note=note)  # type: ignore[arg-type]
    merged = f"; customers merged (history {done.merged.history_id})" if done.merged else ""
    console.print(f"records {done.left} and {done.right}: {done.decision}{merged}")


def _print_pair(x: explaining.PairExplanation) -> None:
    left, right = x.left_label, x.right_label
    console.print(
        f"[bold]{left[0]}:{left[1]}[/] (record {x.left}) vs [bold]{right[0]}:{right[1]}[/] (record {x.right}) — "
        f"probability {x.score.probability:.4f}, {x.score.weight:+.1f} bits, model v{x.model_version}"
        + ("" if x.evidence_for_auto_merge else " [yellow](names disagree and no e-mail or birth date agrees)[/]")
    )
    rows = []
    for name, level, bits, running in explaining.waterfall_lines(x):
        bar = ("+" if bits >= 0 else "-") * min(int(abs(bits) + 0.5), 30)
        rows.append([name, level, f"{bits:+.1f}", f"{running:+.1f}", bar])
    console.print(table("Waterfall (bits of evidence)", ["comparison", "level", "bits", "total", ""], rows))
    if x.decision:
        console.print(f"decided by {x.decision['decided_by']}: {x.decision['decision']} ({x.decision['origin']})")


@identity_app.command("pair")
def pair_cmd(
    ctx: typer.Context,
    left: str = typer.Argument(..., help="Record id or SOURCE:KEY."),
    right: str = typer.Argument(..., help="Record id or SOURCE:KEY."),
) -> None:
    """How the model scores two records, comparison by comparison.

    Example: epistola identity pair crm_intl:C0000001 loyalty:770000000016
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        x = explaining.explain_pair(conn, record_ref(conn, left), record_ref(conn, right))
    _print_pair(x)


@identity_app.command("explain")
def explain_cmd(ctx: typer.Context, customer: int = typer.Argument(..., help="Customer id.")) -> None:
    """Why a customer's records are one person: each merge with its probability and waterfall, the
    decisions people made, the merge history.

    Example: epistola identity explain 42
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        x = explaining.explain_customer(conn, customer)
    console.print(
        table(
            f"Customer {customer}: {len(x.records)} records",
            ["record", "source", "key"],
            [[r["id"], r["source"], r["key"]] for r in x.records],
        )
    )
    for link in x.links:
        _print_pair(link)
    if not x.links:
        console.print("no merge links (a customer of one record, or merged by a person)")
    _print_history(x.history)


def _print_history(rows: list[dict[str, Any]]) -> None:
    if rows:
        console.print(
            table(
                "History",
                ["entry", "kind", "customer", "other", "records", "by", "at", "undone by"],
                [
                    [
                        h["id"],
                        h["kind"],
                        h["customer_id"],
                        h["other_id"],
                        len(h["records"]),
                        h["actor"],
                        h["at"].isoformat(timespec="seconds"),
                        h["undone_by"] or "",
                    ]
                    for h in rows
                ],
            )
        )


@identity_app.command("history")
def history_cmd(ctx: typer.Context, customer: int = typer.Argument(..., help="Customer id.")) -> None:
    """Merges, unmerges and splits a customer took part in; undo a merge with `identity unmerge ENTRY`.

    Example: epistola identity history 42
    """
    app = app_of(ctx)
    with app.engine.connect() as conn:
        rows = store.history_of(conn, customer)
    _print_history(rows)
    if not rows:
        console.print(f"customer {customer} has no merge history")


@identity_app.command("merge")
def merge_cmd(
    ctx: typer.Context,
    keeper: int = typer.Argument(..., help="The customer that stays."),
    other: int = typer.Argument(..., help="The customer that joins it."),
    note: str = typer.Option("", help="Why."),
) -> None:
    """Merge two customers found to be one person (remembered for later runs; undo with `unmerge`).

    Example: epistola identity merge 42 97 --note "confirmed by phone"
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        done = merging.merge(conn, keeper, other, now=app.clock(), actor=ACTOR, note=note)
    console.print(
        f"customer {other} merged into {keeper} (history entry {done.history_id}): {len(done.records)} records, "
        f"{done.events_moved} events moved, {done.consent_entries} consent entries"
    )


@identity_app.command("unmerge")
def unmerge_cmd(
    ctx: typer.Context,
    entry: int = typer.Argument(..., help="The merge's history entry (see `identity history`)."),
    note: str = typer.Option("", help="Why."),
) -> None:
    """Undo a merge: the absorbed customer comes back with its records, events and consents.

    Example: epistola identity unmerge 12 --note "two brothers, same address"
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        done = merging.unmerge(conn, entry, now=app.clock(), actor=ACTOR, note=note)
    console.print(
        f"customer {done.other_id} restored from {done.customer_id}: {len(done.records)} records, "
        f"{done.events_moved} events moved back, {done.consent_entries} consent entries"
    )


@identity_app.command("split")
def split_cmd(
    ctx: typer.Context,
    customer: int = typer.Argument(..., help="The customer to split."),
    records: list[str] = typer.Option(..., "--record", "-r", help="A record that is someone else (repeat)."),
    note: str = typer.Option("", help="Why."),
) -> None:
    """Move records that are someone else into a new customer (later runs keep them apart).

    Example: epistola identity split 42 --record loyalty:770000000016
    """
    app = app_of(ctx)
    with app.engine.begin() as conn:
        ids = [record_ref(conn, r) for r in records]
        done = merging.split(conn, customer, ids, now=app.clock(), actor=ACTOR, note=note)
    console.print(f"records {done.records} are now customer {done.other_id} (history entry {done.history_id})")


@identity_app.command("match")
def match_cmd(ctx: typer.Context, record: str = typer.Argument(..., help="Record id or SOURCE:KEY.")) -> None:
    """Match one new or changed record against the existing customers, without a batch run.

    Example: epistola identity match web:W000123
    """
    from epistola.identity.incremental import match_record

    app = app_of(ctx)
    with app.engine.begin() as conn:
        done = match_record(conn, record_ref(conn, record), now=app.clock(), actor=ACTOR)
    how = f" (probability {done.probability:.3f})" if done.probability is not None else ""
    console.print(
        f"record {done.record_id}: {done.action} customer {done.customer_id}{how}; {done.candidates} candidates, "
        f"{done.review} sent to review"
        + (
            f"; customers {', '.join(map(str, done.absorbed))} merged in: the record links them too"
            if done.absorbed
            else ""
        )
    )
