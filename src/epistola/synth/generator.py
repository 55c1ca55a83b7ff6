"""`generate()`: one call that writes a whole synthetic customer base and its ground truth.

Each stage draws from its own random stream derived from the seed, so the same (customers, seed,
events_per_customer) gives byte-identical files, and rows are streamed to disk as they are made.
Persons are held in memory (about 1.5 KB each); nothing else grows with the number of events.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from epistola.errors import InputError
from epistola.synth.crm import write_crm_intl, write_crm_ru
from epistola.synth.events import write_events
from epistola.synth.loyalty import write_loyalty_members
from epistola.synth.model import AS_OF, Person, Progress
from epistola.synth.overlay import write_postcode_overlay
from epistola.synth.people import build_people
from epistola.synth.sources import Truth, rng_for
from epistola.synth.web import write_web_registrations

FORMAT_VERSION = 1
FILE_NAMES = {
    "crm_ru": "crm_ru.csv",
    "crm_intl": "crm_intl.csv",
    "web_registrations": "web_registrations.jsonl",
    "loyalty_members": "loyalty_members.csv",
    "transactions": "transactions.csv",
    "web_events": "web_events.jsonl",
    "postcode_overlay": "postcode_overlay.csv",
    "ground_truth": "ground_truth.csv",
    "dataset": "dataset.json",
}


@dataclass(frozen=True, kw_only=True)
class GeneratedDataset:
    """What `generate` wrote: where, how many rows per file, and how many problems were planted."""

    out_dir: Path
    people: int  # distinct real persons generated
    files: dict[str, Path]  # logical name -> path
    records: dict[str, int]  # logical name -> number of data rows written
    planted: dict[str, int]  # counts of planted problems (and within-source duplicates)


def _quiet(stage: str, done: int, total: int) -> None:
    """The default progress callback: say nothing."""


def _check(customers: int, seed: int, events_per_customer: float) -> None:
    problems = []
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        problems.append(f"customers must be a whole number of at least 1 (got {customers!r})")
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(f"seed must be a whole number (got {seed!r})")
    if not math.isfinite(events_per_customer) or events_per_customer < 0:
        problems.append(f"events_per_customer must be zero or more (got {events_per_customer!r})")
    if problems:
        raise InputError("cannot generate the demo data: " + "; ".join(problems), hint="fix the arguments")


def generate(
    out_dir: Path,
    *,
    customers: int = 5_000,
    seed: int = 42,
    events_per_customer: float = 12.0,
    progress: Progress | None = None,
) -> GeneratedDataset:
    """Write a synthetic customer base into `out_dir` (created if missing; files in it are replaced).

    Args:
        out_dir: the directory for the nine files.
        customers: distinct real persons; each appears in at least one source.
        seed: the same seed (with the same other arguments) gives byte-identical files.
        events_per_customer: mean transactions + web events per person.
        progress: called as `progress(stage, done, total)` every thousand rows or so.
    """
    _check(customers, seed, events_per_customer)
    report = progress or _quiet
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output directory {out_dir}: {exc.strerror}") from exc
    files = {name: out_dir / file for name, file in FILE_NAMES.items()}

    people = build_people(customers, seed, report)
    try:
        records, planted = _write_sources(files, people, seed, events_per_customer, report)
    except OSError as exc:
        raise InputError(
            f"cannot write the demo data to {out_dir}: {exc.strerror or exc}",
            hint="choose a directory you can write to, with enough free space",
        ) from exc
    manifest = {
        "generator": "epistola.synth",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "customers": customers,
        "events_per_customer": events_per_customer,
        "as_of": AS_OF.isoformat(),
        "people": len(people),
        "files": {name: path.name for name, path in files.items()},
        "records": records,
        "planted": planted,
        "codings": {
            "web_age_code": {"1": "18-25", "2": "26-40", "3": "41+"},
            "loyalty_age_group": {"1": "18-25", "2": "36-55", "3": "56+"},
            "loyalty_sex": {"M": "male", "F": "female", "K": "female (Polish: kobieta)"},
        },
    }
    _write_text(files["dataset"], json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return GeneratedDataset(out_dir=out_dir, people=len(people), files=files, records=records, planted=planted)


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _write_sources(
    files: dict[str, Path], people: list[Person], seed: int, events_per_customer: float, report: Progress
) -> tuple[dict[str, int], dict[str, int]]:
    """Write every data file; return the row counts and the planted-problem counts."""
    records: dict[str, int] = {}
    taken = {p.email for p in people} | {p.old_email for p in people}
    truth = Truth(files["ground_truth"])
    try:
        records["crm_ru"] = write_crm_ru(files["crm_ru"], people, rng_for(seed, "crm_ru"), truth, taken, report)
        records["crm_intl"] = write_crm_intl(files["crm_intl"], people, rng_for(seed, "crm_intl"), truth, taken, report)
        regs = write_web_registrations(files["web_registrations"], people, rng_for(seed, "web"), truth, taken, report)
        records["web_registrations"] = sum(len(r) for r in regs.values())
        cards = write_loyalty_members(files["loyalty_members"], people, rng_for(seed, "loyalty"), truth, report)
        records["loyalty_members"] = len(cards)
        records["transactions"], records["web_events"] = write_events(
            files["transactions"],
            files["web_events"],
            people,
            cards,
            regs,
            events_per_customer,
            rng_for(seed, "events"),
            truth,
            report,
        )
    finally:
        truth.close()
    records["ground_truth"] = truth.rows
    records["postcode_overlay"] = write_postcode_overlay(files["postcode_overlay"], rng_for(seed, "overlay"))
    return records, dict(truth.planted)
