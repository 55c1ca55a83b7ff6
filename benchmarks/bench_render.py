"""Rendering throughput of one design in three channels, per customer, as the composers do it.

- render_email_per_s: the demo campaign's design (variants per language) personalised for each customer:
  render context, subject, HTML (MJML compiled once), plain text, a tracking link per target, and the
  complete MIME message (no DKIM). One process.
- render_sms_per_s: the same design's SMS: context, text, links shortened to tracking links, GSM-7/UCS-2
  detection and segment count. One process.
- render_print_letters_per_s: one-page letters of the birthday design typeset by Typst in batched print
  files (500 letters per compile) with the per-letter index; one process, then two processes in parallel
  (the print channel typesets batches in parallel processes).

Reproduce: make bench B=render   (or: python benchmarks/bench_render.py [customers])
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import yaml
from common import figure, timed

from epistola.content.context import render_context
from epistola.content.design import parse_design
from epistola.content.mime import MailParts, build_message
from epistola.content.renditions import CompiledDesign
from epistola.content.samples import SAMPLE_AGENT, SAMPLE_CUSTOMERS

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
BATCH = 500
NOW = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
BASE = "https://mail.epistola.example"


def design(name: str) -> CompiledDesign:
    text = resources.files("epistola.demo_content").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return CompiledDesign(parse_design(yaml.safe_load(text), name=name, version=1))


def customers(n: int) -> list[dict[str, Any]]:
    """Distinct customers cycling through the samples' languages, genders and address shapes."""
    out = []
    for i in range(n):
        base = SAMPLE_CUSTOMERS[i % len(SAMPLE_CUSTOMERS)]
        out.append({**base, "id": 1_000_000 + i, "first_name": f"{base['first_name'] or 'Kim'}{i % 97}"})
    return out


def track(url: str) -> str:
    return f"{BASE}/t/c/{secrets.token_urlsafe(18)}"


def context(person: dict[str, Any], message_id: int) -> dict[str, Any]:
    return render_context(
        person,
        today=NOW.date(),
        campaign={"id": 7, "name": "autumn-2026"},
        message_id=message_id,
        links={"pixel": f"{BASE}/t/o/{secrets.token_urlsafe(18)}.gif", "preferences": f"{BASE}/preferences/x"},
    )


def emails(people: list[dict[str, Any]], compiled: CompiledDesign) -> int:
    size = 0
    for n, person in enumerate(people):
        ctx = context(person, n)
        rendered = compiled.email(ctx, track)
        data = build_message(
            MailParts(
                sender="Epistola Demo <news@epistola.example>",
                recipient=str(person["email"]),
                recipient_name=ctx["customer"]["full_name"],
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                html_pieces=rendered.html_pieces,
                message_id=f"{n}.{secrets.token_hex(8)}@epistola.example",
                date=NOW,
            )
        )
        size += len(data)
    return size


def sms(people: list[dict[str, Any]], compiled: CompiledDesign) -> int:
    segments = 0
    for n, person in enumerate(people):
        ctx = render_context(person, today=NOW.date(), campaign={"id": 7, "name": "autumn-2026"}, message_id=n)
        segments += compiled.sms(ctx, track).segments
    return segments


def letters_batch(start: int, count: int) -> tuple[int, int]:
    """Render and typeset `count` A4 letters in one print file; (letters, pages). Runs in worker processes."""
    compiled = design("birthday")
    people = [p for p in customers(start + count * 2)[start:] if p["country"] != "US"][:count]
    calls = [
        compiled.letter(render_context(p, today=date(2026, 3, 8), message_id=start + n, agent=SAMPLE_AGENT))
        for n, p in enumerate(people)
    ]
    return len(calls), compiled.typeset(calls, paper="a4").pages


def main() -> None:
    people = customers(COUNT)
    collection = design("new-collection")
    emails(people[:200], collection)  # compile every variant and language first, as a running campaign has
    cpu = time.process_time()
    with timed() as t:
        size = emails(people, collection)
    figure("render_email_per_s", COUNT / t[0], "msg/s")
    figure("render_email_per_cpu_s", COUNT / (time.process_time() - cpu), "msg/s")  # less sensitive to load
    figure("render_email_bytes", size / COUNT, "bytes/msg")
    sms(people[:200], collection)
    cpu = time.process_time()
    with timed() as t:
        sms(people, collection)
    figure("render_sms_per_s", COUNT / t[0], "msg/s")
    figure("render_sms_per_cpu_s", COUNT / (time.process_time() - cpu), "msg/s")

    letters_batch(0, 20)  # fonts and the preamble, once
    starts = range(0, 4 * BATCH, BATCH)
    cpu = time.process_time()
    with timed() as t:
        done = [letters_batch(i, BATCH) for i in starts]
    letters, pages = sum(d[0] for d in done), sum(d[1] for d in done)
    figure("render_print_letters_per_s", letters / t[0], "letters/s")
    figure("render_print_letters_per_cpu_s", letters / (time.process_time() - cpu), "letters/s")
    figure("render_print_pages_per_letter", pages / letters, "pages")
    # As the print channel typesets batches: in parallel processes, started fresh (a forked Typst deadlocks).
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        list(pool.map(letters_batch, [0, 0], [20, 20]))  # start both workers and load their fonts first
        with timed() as t:
            letters = sum(d[0] for d in pool.map(letters_batch, starts, [BATCH] * len(starts)))
    figure("render_print_letters_per_s_2proc", letters / t[0], "letters/s")
    figure("machine_load_1min", os.getloadavg()[0], "")


if __name__ == "__main__":
    main()
