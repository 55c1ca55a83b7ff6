"""Print batches: PDFs typeset by Typst with CSV manifests in postage order, each letter in exactly one batch."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from delivery_fixtures import seed_campaign, states
from pypdf import PdfReader
from sqlalchemy import Engine

from epistola.delivery import Worker
from epistola.delivery.ports import ClaimedMessage, Envelope, Skip
from epistola.delivery.printing import Letter, PrintChannel, TypstLetterRenderer, typst_string
from epistola.errors import PermanentDeliveryError
from epistola.testing import FixedClock

COUNTRIES = ("PL", "DE", "GB", "US")


def letter(i: int) -> Letter:
    return Letter(
        message_id=i,
        name=f'Anna "#strong[x]" Kowalska {i}',  # Typst markup in a name stays text
        address=(f"ul. Długa {i}",),
        postcode=f"{(i * 37) % 90 + 10:02d}-{i % 1000:03d}",
        city="Warszawa",
        country=COUNTRIES[i % 4],
        paper="letter" if COUNTRIES[i % 4] == "US" else "a4",
        body="Dear Anna,\n\nour autumn collection is here.\n" + ("More news. " * (900 if i % 7 == 0 else 5)),
    )


class LetterComposer:
    def compose(self, batch: Sequence[ClaimedMessage]) -> list[Envelope | Skip]:
        return [Envelope(message_id=m.id, sender="print", recipient="post", data=letter(m.id).to_json()) for m in batch]


def manifests(folder: Path) -> dict[str, list[dict[str, str]]]:
    return {p.stem: list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8")))) for p in folder.glob("*.csv")}


def test_a_campaign_becomes_sorted_batches_with_every_letter_once(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    seeded = seed_campaign(engine, now=clock(), count=60, channel="print")
    channel = PrintChannel(tmp_path / "print", batch_size=25, clock=clock, processes=2)
    worker = Worker(engine, LetterComposer(), {"print": channel}, clock=clock, handle_signals=False)

    asyncio.run(worker.run(until_idle=True))

    assert set(states(engine, seeded.step_id).values()) == {"sent"}
    found = manifests(tmp_path / "print")
    ids = Counter(int(row["message_id"]) for rows in found.values() for row in rows)
    assert ids == Counter({i: 1 for i in seeded.message_ids})
    for name, rows in found.items():
        keys = [(r["country"], r["postcode"].replace(" ", "")) for r in rows]
        assert keys == sorted(keys), f"{name} is not in postage order"
        assert len({r["country"] == "US" for r in rows}) == 1  # US Letter and A4 are never mixed
        pdf = PdfReader(tmp_path / "print" / f"{name}.pdf")
        pages = [int(r["pages"]) for r in rows]
        assert len(pdf.pages) == sum(pages) and rows[0]["first_page"] == "1"
        long_letter = next((r for r in rows if int(r["message_id"]) % 7 == 0 and int(r["pages"]) > 1), None)
        if long_letter is not None:  # a long letter's second page follows its first
            first = int(long_letter["first_page"])
            assert long_letter["name"].split('"')[0] in (pdf.pages[first - 1].extract_text() or "")
    leftovers = [p for p in (tmp_path / "print").rglob("*") if p.suffix in (".open", ".jsonl")]
    assert leftovers == []  # no second copy of the addresses is kept once the PDFs exist
    text = PdfReader(tmp_path / "print" / f"{sorted(found)[0]}.pdf").pages[0].extract_text() or ""
    assert "#strong[x]" in text  # printed as written, not interpreted


def test_letters_of_a_worker_that_died_are_batched_once_by_the_next(clock: FixedClock, tmp_path: Path) -> None:
    first = PrintChannel(tmp_path, batch_size=10, clock=clock, processes=1)
    for i in range(1, 16):
        first._append(letter(i))
    first._journal.write(b'{"message_id": 99, "name": "cut sh')  # the write a SIGKILL interrupted
    first._journal.flush()
    first._journal.close()  # the process is gone: its lock with it, the journal left `.open`
    journal = next((tmp_path / "spool").glob("*.open"))
    saved = journal.read_bytes()

    second = PrintChannel(tmp_path, batch_size=10, clock=clock, processes=1)
    second._claim_batches(journal)  # split into batches, then the process dies before typesetting ...
    journal.write_bytes(saved)  # ... or even before it removed the journal
    clock.advance(minutes=5)
    done = asyncio.run(PrintChannel(tmp_path, batch_size=10, clock=clock, processes=1).flush())

    assert len(done) == 3 and all(name.startswith(f"print-{journal.stem}-") for name, _, _ in done)  # A4 10+1, US 4
    ids = Counter(int(r["message_id"]) for rows in manifests(tmp_path).values() for r in rows)
    assert ids == Counter({i: 1 for i in range(1, 16)})  # the cut-off letter was never `sent`: left out
    assert asyncio.run(PrintChannel(tmp_path, clock=clock).flush()) == []  # nothing is printed twice
    assert not list((tmp_path / "spool").iterdir())


def test_a_live_writers_journal_is_left_alone(clock: FixedClock, tmp_path: Path) -> None:
    writer = PrintChannel(tmp_path, clock=clock, processes=1)
    writer._append(letter(1))
    assert asyncio.run(PrintChannel(tmp_path, clock=clock, processes=1).flush()) == []
    asyncio.run(writer.close())
    assert [n for _, n, _ in writer.finished] == [1]


def test_finished_batches_are_handed_to_the_command(clock: FixedClock, tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    channel = PrintChannel(tmp_path / "print", clock=clock, command=f"cp {{pdf}} {{manifest}} {shop}", processes=1)

    async def main() -> None:
        for i in (1, 2, 5):  # A4 only: one batch
            await channel.send(Envelope(message_id=i, sender="print", recipient="post", data=letter(i).to_json()))
        await channel.close()

    asyncio.run(main())
    (batch,) = channel.finished
    assert sorted(p.name for p in shop.iterdir()) == [f"{batch[0]}.csv", f"{batch[0]}.pdf"] and batch[1] == 3


@pytest.mark.parametrize("data", [b"{}", b"not json", Letter(message_id=1, name="", address=()).to_json()])
def test_a_letter_without_an_address_fails_for_good(data: bytes, tmp_path: Path) -> None:
    channel = PrintChannel(tmp_path)
    with pytest.raises(PermanentDeliveryError):
        asyncio.run(channel.send(Envelope(message_id=1, sender="print", recipient="post", data=data)))


@pytest.mark.parametrize(
    ("value", "literal"),
    [('say "hi"', '"say \\"hi\\""'), ("a\\b", '"a\\\\b"'), ("two\nlines", '"two\\nlines"'), ("bell\x07", '"bell"')],
)
def test_typst_strings(value: str, literal: str) -> None:
    assert typst_string(value) == literal


def test_renderer_reports_where_each_letter_starts() -> None:
    rendered = TypstLetterRenderer().render([letter(1), letter(7), letter(2)])
    assert rendered.first_pages[0] == 1 and rendered.first_pages[2] > rendered.first_pages[1] + 1  # 7 is long
    assert rendered.pages >= 4 and rendered.pdf.startswith(b"%PDF")
