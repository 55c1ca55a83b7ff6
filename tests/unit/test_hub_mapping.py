"""Mappings and readers reject bad input precisely: file, row, field, reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from epistola.errors import InputError
from epistola.hub.mapping import FormatSpec, load_mapping
from epistola.hub.pipeline import shipped_mapping, shipped_mapping_names
from epistola.hub.readers import Rejected, Row, detect_encoding, read_rows


def test_every_shipped_mapping_is_valid() -> None:
    names = shipped_mapping_names()
    assert {"crm_ru", "crm_intl", "web", "loyalty", "transactions", "web_events", "online_orders"} <= set(names)
    for name in names:
        shipped_mapping(name)


@pytest.mark.parametrize(
    ("yaml_text", "field", "message"),
    [
        ("source: x\nformat: {type: csv}\nkey: id\nfields: {shoe_size: s}\n", "fields", "unknown canonical field"),
        ("source: x\nformat: {type: tsv}\nkey: id\nfields: {}\n", "format.type", "Input should be"),
        (
            "source: x\nformat: {type: csv}\nkey: id\n"
            "fields: {age: {from: a, type: age_range, recode: {'1': '18 to 25'}}}\n",
            "fields.age",
            "must look like '26-40'",
        ),
        (
            "source: x\nformat: {type: csv}\nkey: id\nfields: {first_name: {from: a, template: '{b}'}}\n",
            "fields.first_name",
            "exactly one of",
        ),
        (
            "source: x\nformat: {type: csv}\nkey: id\nfields: {}\nconsents: {fax: {from: f, recode: {}}}\n",
            "consents",
            "unknown consent channel",
        ),
    ],
)
def test_mapping_errors_name_the_place(tmp_path: Path, yaml_text: str, field: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_mapping(path)
    problems = caught.value.problems
    assert any(
        p.field and p.field.startswith(field) and message in p.message and p.file == str(path) for p in problems
    ), problems


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("source: x\nfields: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_mapping(path)
    assert caught.value.problems[0].row is not None


def test_encodings_are_detected(tmp_path: Path) -> None:
    (tmp_path / "ru.csv").write_bytes("имя;город\nИван;Москва\n".encode("cp1251"))
    (tmp_path / "bom.csv").write_bytes("name\nŁukasz\n".encode("utf-8-sig"))
    (tmp_path / "plain.csv").write_bytes("name\nŁukasz\n".encode())
    assert detect_encoding(tmp_path / "ru.csv") == "cp1251"
    assert detect_encoding(tmp_path / "bom.csv") == "utf-8-sig"
    assert detect_encoding(tmp_path / "plain.csv") == "utf-8"
    rows = list(read_rows(tmp_path / "ru.csv", FormatSpec(type="csv", delimiter=";"), {"имя"}))
    assert rows == [Row(number=1, values={"имя": "Иван", "город": "Москва"})]


def test_wrong_declared_encoding_fails_with_advice(tmp_path: Path) -> None:
    (tmp_path / "ru.csv").write_bytes("name\nИван\n".encode("cp1251"))
    with pytest.raises(InputError, match="cannot be read as utf-8") as caught:
        list(read_rows(tmp_path / "ru.csv", FormatSpec(type="csv", encoding="utf-8"), {"name"}))
    assert "cp1251" in (caught.value.hint or "")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id;name\n1;x\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        list(read_rows(tmp_path / "a.csv", FormatSpec(type="csv"), {"id", "email"}))
    assert {p.field for p in caught.value.problems} == {"id", "email"}  # ';' is not the declared delimiter
    assert "delimiter" in (caught.value.hint or "")


def test_malformed_rows_are_rejected_and_the_rest_read(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,name\n1,ann\n2,bob,extra\n3,cy\n", encoding="utf-8")
    rows = list(read_rows(tmp_path / "a.csv", FormatSpec(type="csv"), {"id"}))
    assert [type(r).__name__ for r in rows] == ["Row", "Rejected", "Row"]
    bad = rows[1]
    assert isinstance(bad, Rejected) and bad.number == 2 and "expected 2 fields, found 3" in bad.reason
    (tmp_path / "b.jsonl").write_text('{"id": 1}\nnot json\n[1]\n{"id": 2}\n', encoding="utf-8")
    got = list(read_rows(tmp_path / "b.jsonl", FormatSpec(type="jsonl"), set()))
    assert [getattr(r, "number", None) for r in got] == [1, 2, 3, 4]
    assert [type(r).__name__ for r in got] == ["Row", "Rejected", "Rejected", "Row"]
