"""The feedback commands, in-process through Typer on both databases, and one bad file through `python -m`."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from epistola.cli import app as cli
from epistola.cli.common import CliState

EXAMPLE = Path(__file__).parents[2] / "src" / "epistola" / "feedback" / "examples" / "life-changes.yaml"
MAIL = Path(__file__).parent.parent / "fixtures" / "mail"


def invoke(db_url: str, tmp_path: Path, *args: str) -> str:
    argv = ["--database-url", db_url, "--output-dir", str(tmp_path / "out"), *args]
    state = CliState()
    try:
        result = CliRunner().invoke(cli, argv, env={"COLUMNS": "250"}, obj=state)
    finally:
        if state.app is not None:  # the command's connections, closed as the process exit would
            state.app.close()
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_surveys_bounces_and_attribution_from_the_command_line(db_url: str, tmp_path: Path) -> None:
    assert "version 1 (8 questions)" in invoke(db_url, tmp_path, "survey", "save", str(EXAMPLE))
    assert "version 2" in invoke(db_url, tmp_path, "survey", "save", str(EXAMPLE))
    assert "Life Changes Assessment" in invoke(db_url, tmp_path, "survey", "list")

    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    for name in ("postfix-user-unknown.eml", "yahoo-cfl-complaint.eml", "auto-reply.eml"):
        box.add((MAIL / name).read_bytes())
    out = invoke(db_url, tmp_path, "bounces", "read", "--maildir", str(tmp_path / "bounces"))
    assert "3 mails (1 not reports), 2 new reports (complaint 1, hard 1)" in out
    assert "2 addresses suppressed" in out
    assert "0 new reports" in invoke(db_url, tmp_path, "bounces", "read", "--maildir", str(tmp_path / "bounces"))
    assert "yahoo.com" in invoke(db_url, tmp_path, "bounces", "domains")
    assert "complaint" in invoke(db_url, tmp_path, "bounces", "list", "--kind", "complaint")
    assert "0 campaigns" in invoke(db_url, tmp_path, "attribute")


def test_every_feedback_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    commands = [
        ["survey", "save"], ["survey", "attach"], ["survey", "list"], ["bounces", "read"], ["bounces", "list"],
        ["bounces", "domains"], ["bounces", "resume"], ["attribute"],
    ]  # fmt: skip
    for command in commands:
        result = runner.invoke(cli, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "Example: epistola" in result.output, command


def test_an_invalid_survey_file_is_named_with_the_path_inside_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: s\ntitle: S\nquestions:\n  - {id: a, type: single, label: A, options: [{value: x, label: X}]}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTOLA_")}
    db = f"sqlite:///{tmp_path / 'e.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "epistola", "--database-url", db, "survey", "save", str(bad)],
        capture_output=True, text=True, env=env | {"COLUMNS": "200"}, timeout=180,
    )  # fmt: skip
    assert out.returncode == 65
    assert "bad.yaml" in out.stderr and "questions[0]" in out.stderr and "at least two options" in out.stderr
