"""`epistola demo` end to end on SQLite, small: what it prints must agree with what it stored and sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import func, select

from epistola.app import create_app
from epistola.config import load_settings
from epistola.demo import run_demo
from epistola.store.schema import campaign_members, messages


@contextmanager
def _quiet(_label: str, _total: int | None) -> Iterator[Callable[[int, int], None]]:
    yield lambda _done, _total: None


def test_the_demo_runs_the_whole_loop_and_its_figures_agree(tmp_path: Path) -> None:
    settings = load_settings(env="test", database_url=f"sqlite:///{tmp_path / 'demo.db'}", output_dir=tmp_path / "out")
    said: list[str] = []
    result = run_demo(settings, customers=400, seed=11, progress=_quiet, say=said.append)

    assert result.identity is not None and result.identity.precision >= 0.95 and result.identity.recall >= 0.9
    emls = sorted(result.mail_dir.glob("*.eml"))
    assert len(emls) == result.emails_received == result.report.sent == result.report.target.size > 0
    first = message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert first.get_body(preferencelist=("html",)) is not None and first.get_body(preferencelist=("plain",))
    # What the simulation did is what the report counts: every open pixel and click reached the API.
    assert result.report.opened == result.simulated["opened"]
    assert result.report.clicked == result.simulated["clicked"]
    assert result.report.control.size > 0 and result.report_html.is_file()
    assert {p.suffix for p in result.proofs_dir.iterdir()} >= {".html", ".pdf"}  # type: ignore[union-attr]

    app = create_app(settings)
    try:
        with app.engine.connect() as conn:
            control = conn.execute(
                select(func.count()).select_from(campaign_members).where(campaign_members.c.grp == "control")
            ).scalar_one()
            control_messages = conn.execute(
                select(func.count())
                .select_from(messages.join(campaign_members, messages.c.customer_id == campaign_members.c.customer_id))
                .where(campaign_members.c.grp == "control")
            ).scalar_one()
    finally:
        app.close()
    assert control == result.report.control.size and control_messages == 0
