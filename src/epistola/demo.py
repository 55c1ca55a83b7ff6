"""`epistola demo`: the whole loop on the embedded default, with nothing to install or start.

Sample customers from several sources are generated, imported, cleansed and merged; an e-mail campaign
with a control group goes out over real SMTP to a server started in-process (every message saved as an
`.eml` file); recipients' opens, clicks and purchases are *simulated* (and labelled so) through the real
tracking endpoints and the real events importer; the report compares target and control.
"""

from __future__ import annotations

import asyncio
import csv
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml

from epistola.app import Epistola, create_app, create_worker
from epistola.audience.segments import count_segment, save_segment
from epistola.campaigns.report import CampaignReport, campaign_report, write_report_html
from epistola.campaigns.service import create_campaign, start_campaign
from epistola.clock import SimulatedClock
from epistola.config import Settings
from epistola.consent.keys import Keyring
from epistola.content.proofs import write_proofs
from epistola.content.renditions import CompiledDesign
from epistola.content.templates import approve, get_version, save_version
from epistola.delivery.sink import SmtpSink
from epistola.errors import ConfigError
from epistola.hub.events import import_events
from epistola.hub.pipeline import DatasetImport, ProgressFactory, event_mapping, import_dataset
from epistola.identity.evaluate import Accuracy, customers_by_record, pairwise_accuracy, read_ground_truth
from epistola.store.schema import campaign_members
from epistola.web.app import build_server

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel link protection)"
_HREF = re.compile(r'href="([^"]+/t/c/[^"]+)"')
_PIXEL = re.compile(r'src="([^"]+/t/o/[^"]+\.gif)"')


@dataclass(frozen=True, kw_only=True)
class Behaviour:
    """The simulated recipients (documented, so nobody mistakes the demo's lift for a real one)."""

    open_rate: float = 0.38
    click_rate: float = 0.30  # of those who open
    scanner_rate: float = 0.05  # messages whose links a mail gateway follows on arrival
    base_purchase: float = 0.04  # anyone, campaign or not, within the window
    purchase_if_clicked: float = 0.30
    purchase_if_opened: float = 0.06


@dataclass(kw_only=True)
class DemoResult:
    database: str
    data_dir: Path
    mail_dir: Path
    report_html: Path
    imported: DatasetImport
    segment_size: int
    figures: dict[str, int]
    emails_received: int
    report: CampaignReport
    identity: Accuracy | None = None
    simulated: dict[str, int] = field(default_factory=dict)
    proofs_dir: Path | None = None  # proof sets (HTML + PDF) of the demo's designs in every channel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(
    base: Settings,
    *,
    customers: int,
    seed: int,
    progress: ProgressFactory,
    say: Callable[[str], None],
    behaviour: Behaviour | None = None,
) -> DemoResult:
    if base.env == "production":
        raise ConfigError("the demo starts its own SMTP sink and simulates customers; it never runs in production")
    from epistola.synth import generate

    behaviour = behaviour or Behaviour()
    out = base.output_dir / "demo"
    data_dir, mail_dir = out / "data", out / "mail"
    api_port = _free_port()
    with SmtpSink(mail_dir) as sink:
        host, port = sink.start()
        settings = base.model_copy(
            update={
                "smtp_host": host,
                "smtp_port": port,
                "smtp_security": "none",
                "smtp_username": None,
                "smtp_password": None,
                "api_host": "127.0.0.1",
                "api_port": api_port,
                "public_base_url": f"http://127.0.0.1:{api_port}",
                "log_level": "WARNING",
                # Every simulated recipient calls from 127.0.0.1: a per-IP limit would drop their opens.
                "public_rate_per_s": 0.0,
            }
        )
        # The campaign is replayed as if it went out two weeks ago, so that its response window has closed
        # by the real "now" and the UI, the API and `epistola report` all show the finished results.
        clock = SimulatedClock()
        clock.advance(-timedelta(days=15))
        app = create_app(settings, clock=clock)
        app.migrate()
        server = build_server(app, "127.0.0.1", api_port)
        thread = threading.Thread(target=server.run, name="epistola-api", daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.02)
            return _run(app, clock, sink, customers, seed, data_dir, mail_dir, progress, say, behaviour, generate)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            app.close()


def _run(
    app: Epistola,
    clock: SimulatedClock,
    sink: SmtpSink,
    customers: int,
    seed: int,
    data_dir: Path,
    mail_dir: Path,
    progress: ProgressFactory,
    say: Callable[[str], None],
    behaviour: Behaviour,
    generate: Any,
) -> DemoResult:
    say(f"1/6 Generating {customers:,} sample people across CRM, web and loyalty sources")
    with progress("generate", customers) as update:
        dataset = generate(data_dir, customers=customers, seed=seed, progress=lambda _s, d, t: update(d, t))
    say(f"2/6 Importing, cleansing and merging the sources ({sum(dataset.records.values()):,} rows)")
    imported = import_dataset(app, data_dir, progress)
    truth = read_ground_truth(data_dir / "ground_truth.csv")
    with app.engine.connect() as conn:
        identity = pairwise_accuracy(customers_by_record(conn), truth)

    say("3/6 Building the audience and the design")
    content = resources.files("epistola.demo_content")
    segment_def = yaml.safe_load(content.joinpath("reachable-by-email.yaml").read_text(encoding="utf-8"))
    design = yaml.safe_load(content.joinpath("new-collection.yaml").read_text(encoding="utf-8"))
    birthday = yaml.safe_load(content.joinpath("birthday.yaml").read_text(encoding="utf-8"))
    now = clock()
    name = f"demo-{now:%Y%m%d-%H%M%S}"
    with app.engine.begin() as conn:
        segment = save_segment(
            conn,
            name="demo-reachable-by-email",
            definition=segment_def,
            description="Customers with e-mail marketing consent",
            now=now,
        )
        size = count_segment(conn, segment, now)
        # One design each for the campaign and the birthday scenario: e-mail, SMS, letter and web page.
        version = save_version(conn, name="demo-new-collection", definition=design, now=now, actor="demo")
        approve(conn, name="demo-new-collection", version=version.version, by="demo", now=now)
        birthday_version = save_version(conn, name="demo-birthday", definition=birthday, now=now, actor="demo")
        approve(conn, name="demo-birthday", version=birthday_version.version, by="demo", now=now)
        create_campaign(
            conn,
            name=name,
            segment=segment.name,
            template="demo-new-collection",
            control_pct=10.0,
            seed=seed,
            objective="Autumn collection: purchases within 14 days",
            now=now,
        )
        figures = start_campaign(conn, name, now=now)

    say(f"4/6 Sending {figures['queued']:,} e-mails over SMTP to the in-process server")
    worker = create_worker(app, handle_signals=False)
    with progress("send", figures["queued"]) as update:
        asyncio.run(
            worker.run(
                until_idle=True,
                on_progress=lambda s: update(
                    s.stats.sent + s.stats.failed + s.stats.suppressed + s.stats.uncertain, figures["queued"]
                ),
            )
        )

    say("5/6 Simulating recipients: opens, clicks, purchases (labelled as simulation)")
    simulated = _simulate(app, clock, sink, name, data_dir, behaviour, random.Random(seed))  # noqa: S311 - a simulation, not security
    clock.advance(timedelta(days=14))

    say("6/6 Measuring the campaign against its control group")
    with app.engine.connect() as conn:
        report = campaign_report(conn, name, now=clock())
    html = write_report_html(report, app.settings.output_dir / "reports" / f"campaign-{name}.html", generated=clock())
    proofs_dir = mail_dir.parent / "proofs"
    with app.engine.connect() as conn:  # every channel of both designs, for approval, as the printer gets it
        for template in ("demo-new-collection", "demo-birthday"):
            compiled = CompiledDesign(get_version(conn, template, approved=True).design())
            write_proofs(
                conn,
                compiled,
                proofs_dir,
                stem=template,
                sample=12,
                today=clock().date(),
                base_url=app.settings.public_base_url,
            )
    return DemoResult(
        database=app.settings.database_url,
        data_dir=data_dir,
        mail_dir=mail_dir,
        report_html=html,
        imported=imported,
        segment_size=size,
        figures=figures,
        emails_received=len(sink.received),
        report=report,
        identity=identity,
        simulated=simulated,
        proofs_dir=proofs_dir,
    )


def _simulate(
    app: Epistola,
    clock: SimulatedClock,
    sink: SmtpSink,
    campaign: str,
    data_dir: Path,
    behaviour: Behaviour,
    rng: random.Random,
) -> dict[str, int]:
    """Recipients read their mail an hour later; some click; purchases follow over two weeks."""
    start = clock()
    scanned = opened = clicked = 0
    engaged: dict[str, str] = {}  # address -> "clicked" | "opened"
    with httpx.Client(timeout=10) as http:
        for item in list(sink.received):
            msg = message_from_bytes(item.data, policy=policy.default)
            html_part = msg.get_body(preferencelist=("html",))
            html = html_part.get_content() if html_part is not None else ""
            links = _HREF.findall(html)
            if links and rng.random() < behaviour.scanner_rate:  # a gateway follows every link on arrival
                for link in links:
                    http.get(link, headers={"User-Agent": SCANNER})
                scanned += 1
        clock.advance(timedelta(hours=1))
        for item in list(sink.received):
            if rng.random() >= behaviour.open_rate:
                continue
            msg = message_from_bytes(item.data, policy=policy.default)
            html_part = msg.get_body(preferencelist=("html",))
            html = html_part.get_content() if html_part is not None else ""
            pixels = _PIXEL.findall(html)[:1]
            if pixels and http.get(pixels[0], headers={"User-Agent": BROWSER}).status_code == 200:
                opened += 1  # counted only when the pixel really reached the API, as the report counts it
            engaged[item.rcpt_tos[0]] = "opened"
            links = _HREF.findall(html)
            if links and rng.random() < behaviour.click_rate:
                response = http.get(links[0], headers={"User-Agent": BROWSER})
                if response.status_code == 302:
                    clicked += 1
                    engaged[item.rcpt_tos[0]] = "clicked"
    purchases = _purchases(app, campaign, engaged, behaviour, rng, start, data_dir)
    return {"scanner_visits": scanned, "opened": opened, "clicked": clicked, "purchases": purchases}


def _purchases(
    app: Epistola,
    campaign: str,
    engaged: dict[str, str],
    behaviour: Behaviour,
    rng: random.Random,
    start: Any,
    data_dir: Path,
) -> int:
    from sqlalchemy import select

    from epistola.campaigns.service import get_campaign
    from epistola.store.schema import customers

    with app.engine.connect() as conn:
        cid = get_campaign(conn, campaign).id
        members = conn.execute(
            select(customers.c.email, customers.c.country)
            .join(campaign_members, campaign_members.c.customer_id == customers.c.id)
            .where(campaign_members.c.campaign_id == cid, customers.c.email.is_not(None))
            .order_by(customers.c.id)
        ).all()
    currency = {"RU": "RUB", "PL": "PLN"}
    path = data_dir / f"orders-{campaign}.csv"
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["order_id", "email", "ordered_at", "amount", "currency", "category", "product"])
        for email, country in members:
            state = engaged.get(email)
            p = behaviour.base_purchase + {
                "clicked": behaviour.purchase_if_clicked,
                "opened": behaviour.purchase_if_opened,
            }.get(state or "", 0.0)
            if rng.random() >= p:
                continue
            count += 1
            at = start + timedelta(hours=rng.uniform(2, 13 * 24))
            cur = currency.get(country or "", "USD")
            amount = round(rng.uniform(20, 180) * (90 if cur == "RUB" else 4 if cur == "PLN" else 1), 2)
            writer.writerow(
                [
                    f"{campaign}-{count}",
                    email,
                    at.isoformat(),
                    f"{amount:.2f}",
                    cur,
                    "casual_clothes",
                    "autumn jacket",
                ]
            )
    import_events(
        app.engine, path, event_mapping("online_orders"), clock=app.clock, keyring=Keyring.from_settings(app.settings)
    )
    return count
