"""Every connector on both engines: CSV (delimiters, quoting, encodings), JSON Lines, Excel, a SQL query."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from hub_fixtures import run_cli
from openpyxl import Workbook  # type: ignore[import-untyped]
from sqlalchemy import create_engine, select, text

from epistola.app import Epistola
from epistola.errors import InputError
from epistola.hub.ingest import import_source
from epistola.hub.mapping import SourceMapping
from epistola.store.schema import import_rejects, source_records


def _mapping(fmt: dict[str, object], **extra: object) -> SourceMapping:
    return SourceMapping.model_validate(
        {
            "source": "shop",
            "format": fmt,
            "key": "id",
            "fields": {
                "first_name": "name",
                "email": "email",
                "birth_date": {"from": "born", "type": "date", "format": ["%d.%m.%Y", "%Y-%m-%d"]},
                "city": "city",
            },
            **extra,
        }
    )


def _stored(app: Epistola) -> dict[str, dict[str, object]]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(source_records.c.source_key, source_records.c.normalized))
        return {key: norm for key, norm in rows}


def _rejects(app: Epistola) -> list[tuple[int, str | None, str]]:
    with app.engine.connect() as conn:
        rows = conn.execute(
            select(import_rejects.c.row, import_rejects.c.field, import_rejects.c.reason).order_by(import_rejects.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("encoding", "declared", "delimiter", "bom"),
    [
        ("utf-8", "auto", ",", False),
        ("utf-8", "auto", ";", True),
        ("cp1251", "auto", ";", False),
        ("cp1251", "cp1251", "\t", False),
        ("utf-8", "utf-8-sig", "|", True),
    ],
)
def test_csv_in_any_delimiter_and_encoding(
    app: Epistola, tmp_path: Path, encoding: str, declared: str, delimiter: str, bom: bool
) -> None:
    d = delimiter
    lines = [
        f"id{d}name{d}email{d}born{d}city",
        f"1{d}ИВАН{d}ivan@mail.ru{d}17.04.1962{d}Москва",
        f'2{d}"Пётр{d} младший"{d}petr@mail.ru{d}1988-05-21{d}"Санкт-\nПетербург"',
        f"3{d}Анна{d}anna@mail.ru{d}31.02.1990{d}Тверь",
        f"4{d}лишнее{d}x{d}y{d}z{d}extra",
    ]
    path = tmp_path / "shop.csv"
    path.write_bytes((("\ufeff" if bom else "") + "\n".join(lines)).encode(encoding))
    report = import_source(
        app.engine, path, _mapping({"type": "csv", "encoding": declared, "delimiter": delimiter}), clock=app.clock
    )
    assert (report.new, report.rejected, report.invalid) == (3, 1, {"birth_date": 1})
    stored = _stored(app)
    assert stored["1"]["first_name"] == "Иван" and stored["1"]["birth_date"] == "1962-04-17"
    assert stored["2"]["first_name"] == " ".join(f"Пётр{delimiter} младший".split())  # spacing tidied
    assert stored["2"]["city"] == "Санкт- Петербург"
    assert "birth_date" not in stored["3"] and "birth_date" in stored["3"]["invalid"]
    assert _rejects(app)[0][:1] == (4,)


def test_a_wrong_encoding_says_where(app: Epistola, tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    body = "id,name,email,born,city\n" + "".join(f"{i},Anna,a{i}@x.org,,Kraków\n" for i in range(3000))
    path.write_bytes(body.encode("utf-8") + "3000,Łukasz,l@x.org,,Łódź\n".encode("cp1250"))
    with pytest.raises(InputError, match=r"cannot be read as utf-8 at line 3002") as caught:
        import_source(app.engine, path, _mapping({"type": "csv", "encoding": "utf-8"}), clock=app.clock, batch_size=500)
    assert "format.encoding" in (caught.value.hint or "") and caught.value.problems[0].row == 3002
    kept = len(_stored(app))
    assert kept > 0 and kept % 500 == 0, "whole batches read before the bad line are kept; none is half-written"


def test_excel_workbooks(app: Epistola, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Members"
    sheet.append(["Export of 2026-11-01"])  # a title row above the header
    sheet.append(["id", "name", "email", "born", "city", None])
    sheet.append([1001, "anna", "ANNA@example.org", datetime(1990, 5, 1), "Kraków", None])
    sheet.append([1002.0, "Jan", "jan@@example.org", "01.02.1985", "Gdańsk", None])
    sheet.append([None, None, None, None, None, None])
    sheet.append([1003, "Ewa", "ewa@example.org", date(1970, 1, 1), "Łódź", "stray note"])
    sheet.append([None, "no key", "nokey@example.org", None, None, None])
    path = tmp_path / "members.xlsx"
    book.save(path)
    mapping = _mapping({"type": "xlsx", "sheet": "Members", "header_row": 2})
    report = import_source(app.engine, path, mapping, clock=app.clock)
    assert (report.new, report.rejected, report.invalid) == (2, 2, {"email": 1})
    stored = _stored(app)
    assert stored["1001"]["birth_date"] == "1990-05-01" and stored["1001"]["email"] == "anna@example.org"
    assert stored["1002"]["birth_date"] == "1985-02-01" and stored["1002"]["first_name"] == "Jan"
    assert [(row, field) for row, field, _ in _rejects(app)] == [(6, None), (7, "id")]  # rows as Excel shows them

    with pytest.raises(InputError, match="has no sheet 'Sheet9'"):
        import_source(app.engine, path, _mapping({"type": "xlsx", "sheet": "Sheet9"}), clock=app.clock)
    not_excel = tmp_path / "fake.xlsx"
    not_excel.write_text("id,name\n1,x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"not an Excel \.xlsx workbook"):
        import_source(app.engine, not_excel, _mapping({"type": "xlsx"}), clock=app.clock)


def test_a_sql_query_against_another_database(app: Epistola, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = create_engine(f"sqlite:///{tmp_path / 'erp.db'}")
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE clients (client_id INTEGER, full_name TEXT, mail TEXT, dob DATE, town TEXT)"))
        conn.execute(
            text("INSERT INTO clients VALUES (1, 'Anna Nowak', 'anna@example.org', '1990-05-01', 'Kraków'),"
                 " (2, 'Jan Kowalski', 'not-an-address', NULL, 'Gdańsk'), (3, NULL, NULL, NULL, NULL)")
        )  # fmt: skip
    other.dispose()
    query = "SELECT client_id AS id, full_name AS name, mail AS email, dob AS born, town AS city FROM clients"
    monkeypatch.setenv("ERP_URL", f"sqlite:///{tmp_path / 'erp.db'}")
    mapping = _mapping({"type": "sql", "query": query, "url_env": "ERP_URL"})
    report = import_source(app.engine, None, mapping, clock=app.clock)
    assert (report.new, report.invalid) == (3, {"email": 1})
    assert _stored(app)["1"]["birth_date"] == "1990-05-01"
    again = import_source(app.engine, None, mapping, clock=app.clock)
    assert (again.unchanged, again.new) == (3, 0)

    missing = _mapping({"type": "sql", "query": "SELECT client_id AS id FROM clients", "url_env": "ERP_URL"})
    with pytest.raises(InputError, match="lacks column"):
        import_source(app.engine, None, missing, clock=app.clock)
    refused = _mapping({"type": "sql", "query": "SELECT * FROM nowhere", "url_env": "ERP_URL"})
    with pytest.raises(InputError, match="the query failed"):
        import_source(app.engine, None, refused, clock=app.clock)
    secret = _mapping({"type": "sql", "query": query, "url": "postgresql://erp:s3cr3t@127.0.0.1:1/erp"})
    with pytest.raises(InputError) as caught:
        import_source(app.engine, None, secret, clock=app.clock)
    assert "s3cr3t" not in str(caught.value) and "***" in str(caught.value)
    yaml_mapping = tmp_path / "erp.yaml"
    yaml_mapping.write_text(
        "source: erp\nformat: {type: sql, url_env: ERP_URL, query: 'SELECT client_id AS id, mail FROM clients'}\n"
        "key: id\nfields: {email: mail}\n",
        encoding="utf-8",
    )
    cli = run_cli(app, "import", "--mapping", str(yaml_mapping), "--no-resolve")
    assert cli.exit_code == 0 and "erp" in cli.output and "3 new" in cli.output, cli.output
    monkeypatch.delenv("ERP_URL")
    with pytest.raises(InputError, match=r"\$ERP_URL, which is not set"):
        import_source(app.engine, None, mapping, clock=app.clock)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ({"type": "sql", "url": "sqlite://"}, "needs 'query'"),
        ({"type": "sql", "query": "SELECT 1"}, "exactly one of 'url' or 'url_env'"),
        ({"type": "csv", "query": "SELECT 1"}, "only apply to type sql"),
        ({"type": "csv", "sheet": "x"}, "only applies to type xlsx"),
    ],
)
def test_connector_settings_are_checked(fmt: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _mapping(fmt)
