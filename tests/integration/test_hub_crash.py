"""An import killed with SIGKILL mid-file, then run again: nothing lost, nothing doubled, the killed
import marked as interrupted. Both engines, with normalisation in worker processes."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from epistola.app import Epistola
from epistola.hub.ingest import import_source, record_json
from epistola.hub.pipeline import source_mapping
from epistola.store.schema import imports, source_records
from epistola.synth import generate

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("hub_import_proc.py")


@pytest.fixture(scope="module")
def crm_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash-data")
    generate(folder, customers=6_000, seed=5, events_per_customer=0.0)
    return folder / "crm_intl.csv"


def _file_records(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {row["customer_no"]: record_json(row) for row in csv.DictReader(fh)}


def _stored(app: Epistola) -> dict[str, str]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(source_records.c.source_key, source_records.c.data)).all()
    return {key: record_json(data) for key, data in rows}


def _kill_mid_file(app: Epistola, path: Path, tmp_path: Path, *, pause: bool) -> None:
    marker = tmp_path / "first-batch-committed"
    args = [sys.executable, str(SCRIPT), app.settings.database_url, str(path), "crm_intl", str(marker)]
    proc = subprocess.Popen(
        [*args, "--batch", "150", *(["--pause"] if pause else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the import and its worker processes die together
        cwd=Path(__file__).parent,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            pytest.fail(f"the import process never committed a batch:\n{err.decode()[-3000:]}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


@pytest.mark.parametrize("pause", [True, False], ids=["between-batches", "anywhere"])
def test_a_killed_import_loses_and_doubles_nothing(app: Epistola, crm_file: Path, tmp_path: Path, pause: bool) -> None:
    expected = _file_records(crm_file)
    _kill_mid_file(app, crm_file, tmp_path, pause=pause)
    before = _stored(app)
    assert before, "the first batches were committed before the kill"
    if pause:
        assert len(before) < len(expected), "the kill came mid-file"
    assert all(expected[k] == v for k, v in before.items()), "every stored record is whole and correct"

    report = import_source(app.engine, crm_file, source_mapping("crm_intl"), clock=app.clock)
    assert (report.new, report.unchanged, report.changed) == (len(expected) - len(before), len(before), 0)
    assert _stored(app) == expected
    with app.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(source_records)).scalar_one()
        statuses = conn.execute(select(imports.c.status).order_by(imports.c.id)).scalars().all()
    assert count == len(expected)
    assert statuses[-1] == "done" and statuses[0] in ("interrupted", "done")
    if pause:
        assert statuses[0] == "interrupted"
