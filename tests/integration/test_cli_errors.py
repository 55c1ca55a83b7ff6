"""The CLI says what went wrong, where, and what to do; it exits non-zero and keeps stored data intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTOLA_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "epistola", *args],
        capture_output=True,
        text=True,
        env=full_env | (env or {}),
        cwd=cwd,
        timeout=120,
    )


def test_bad_database_url_is_named() -> None:
    out = run("customers", "count", env={"EPISTOLA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert out.returncode != 0
    assert "cannot connect to the database" in out.stderr and "EPISTOLA_DATABASE_URL" in out.stderr
    out = run("customers", "count", env={"EPISTOLA_DATABASE_URL": "mysql://x"})
    assert out.returncode == 78 and "EPISTOLA_DATABASE_URL" in out.stderr


def test_missing_production_secret_is_named() -> None:
    out = run("customers", "count", env={"EPISTOLA_ENV": "production"})
    assert out.returncode == 78 and "EPISTOLA_SECRET_KEY" in out.stderr


def test_malformed_row_and_bad_template_through_the_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'e.db'}"
    out = run(
        "--database-url",
        db,
        "--output-dir",
        str(tmp_path / "out"),
        "import",
        str(FIXTURES / "loyalty_members.csv"),
        "--mapping",
        "loyalty",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "loyalty_members.csv, row 4" in out.stdout and "expected 13 fields, found 6" in out.stdout
    design = tmp_path / "d.yaml"
    design.write_text("subject: Hi\nbody: |\n  Hello\n  {{ customer.frist_name }}\n", encoding="utf-8")
    out = run("--database-url", db, "template", "save", "welcome", str(design), cwd=tmp_path)
    assert out.returncode == 65
    assert "row 2" in out.stderr and "frist_name" in out.stderr
    out = run("--database-url", db, "customers", "count", cwd=tmp_path)
    assert "3 customers" in out.stdout, "the failed save left the imported data alone"


@pytest.mark.parametrize(
    "command",
    [
        "init",
        "generate",
        "import",
        "customers",
        "segment",
        "template",
        "campaign",
        "send",
        "report",
        "serve",
        "worker",
        "demo",
        "bench",
    ],
)
def test_every_command_has_help(command: str) -> None:
    from typer.testing import CliRunner

    from epistola.cli import app

    out = CliRunner().invoke(app, [command, "--help"])
    assert out.exit_code == 0 and "Usage" in out.output
