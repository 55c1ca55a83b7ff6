"""The hub's whole job on a folder of source files: import customers, resolve identities, import events.

Used by `epistola import --dataset` and by the demo; each step is also a command of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from epistola.app import Epistola
from epistola.consent.keys import Keyring
from epistola.errors import InputError
from epistola.hub.enrich import DatasetEnrichment, enrich_dataset
from epistola.hub.events import EventImportReport, import_events, link_events
from epistola.hub.ingest import ImportReport, import_source
from epistola.hub.mapping import EventMapping, Mapping, SourceMapping, load_mapping
from epistola.identity.resolve import ResolveReport, resolve

# File written by `epistola generate` -> the mapping shipped for it.
CUSTOMER_FILES = (
    ("crm_ru.csv", "crm_ru"),
    ("crm_intl.csv", "crm_intl"),
    ("web_registrations.jsonl", "web"),
    ("loyalty_members.csv", "loyalty"),
)
EVENT_FILES = (("transactions.csv", "transactions"), ("web_events.jsonl", "web_events"))

ProgressFactory = Callable[[str, int | None], AbstractContextManager[Callable[[int, int], None]]]


def shipped_mapping(name: str) -> Mapping:
    """A mapping that ships with Epistola (see `epistola/hub/mappings/`)."""
    with resources.as_file(resources.files("epistola.hub").joinpath(f"mappings/{name}.yaml")) as path:
        return load_mapping(path)


def source_mapping(name: str) -> SourceMapping:
    mapping = shipped_mapping(name)
    if not isinstance(mapping, SourceMapping):
        raise InputError(f"mapping {name!r} is for events, not customer records")
    return mapping


def event_mapping(name: str) -> EventMapping:
    mapping = shipped_mapping(name)
    if not isinstance(mapping, EventMapping):
        raise InputError(f"mapping {name!r} is for customer records, not events")
    return mapping


def shipped_mapping_names() -> list[str]:
    folder = resources.files("epistola.hub").joinpath("mappings")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


@dataclass(kw_only=True)
class DatasetImport:
    sources: list[ImportReport] = field(default_factory=list)
    resolution: ResolveReport | None = None
    events: list[EventImportReport] = field(default_factory=list)
    events_linked_later: int = 0
    enrichment: DatasetEnrichment | None = None


def import_dataset(app: Epistola, folder: Path, progress: ProgressFactory) -> DatasetImport:
    out = DatasetImport()
    rejects = app.settings.output_dir / "rejects"
    keyring = Keyring.from_settings(app.settings)  # recognises erased people, whose records are skipped
    for filename, mapping_name in CUSTOMER_FILES:
        path = folder / filename
        if not path.exists():
            continue
        mapping = source_mapping(mapping_name)
        with progress(f"import {filename}", None) as update:
            out.sources.append(
                import_source(
                    app.engine, path, mapping, clock=app.clock, rejects_dir=rejects, progress=update, keyring=keyring
                )
            )
    with app.engine.begin() as conn:
        out.resolution = resolve(conn, now=app.clock())
    for filename, mapping_name in EVENT_FILES:
        path = folder / filename
        if not path.exists():
            continue
        events_map = event_mapping(mapping_name)
        with progress(f"import {filename}", None) as update:
            out.events.append(
                import_events(app.engine, path, events_map, clock=app.clock, progress=update, keyring=keyring)
            )
    with app.engine.begin() as conn:
        out.events_linked_later = link_events(conn)
    with app.engine.begin() as conn:  # overlay, modelled values, profiles back into customers.attributes
        out.enrichment = enrich_dataset(conn, folder, now=app.clock())
    return out
