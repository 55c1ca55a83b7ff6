"""The generated files, read back the way an importer would: formats, ground truth, rates, planted problems.

One dataset of 5,000 customers is generated per module (about a second) and checked from the outside:
the checks parse the files and compare them with the persons `build_people` draws for the same seed.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from epistola.errors import InputError
from epistola.synth import GeneratedDataset, generate, write_malformed_sample
from epistola.synth.crm import INTL_COLUMNS, RU_COLUMNS
from epistola.synth.loyalty import COLUMNS as LOYALTY_COLUMNS
from epistola.synth.loyalty import paper_age_code
from epistola.synth.model import AS_OF, Person, age_on
from epistola.synth.names import diminutives
from epistola.synth.noise import yo_to_e
from epistola.synth.people import build_people
from epistola.synth.translit import SCHEMES, fold_polish, has_cyrillic, transliterate
from epistola.synth.web import web_age_code

CUSTOMERS = 5000
SEED = 20261101
EVENTS = 3.0
KNOWN_COUNTRIES = {"US", "USA", "U.S.", "United States", "RU", "Russia", "Россия", "РФ", "PL", "Poland", "Polska"}


@dataclass(frozen=True)
class Loaded:
    dataset: GeneratedDataset
    people: dict[str, Person]
    crm_ru: list[dict[str, str]]
    crm_intl: list[dict[str, str]]
    web: list[dict[str, object]]
    loyalty: list[dict[str, str]]
    transactions: list[dict[str, str]]
    web_events: list[dict[str, object]]
    truth: dict[tuple[str, str], str]

    def person(self, source: str, key: str) -> Person:
        return self.people[self.truth[(source, key)]]


def _csv(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def _jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    calls: list[tuple[str, int, int]] = []
    ds = generate(
        tmp_path_factory.mktemp("synth"),
        customers=CUSTOMERS,
        seed=SEED,
        events_per_customer=EVENTS,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert {stage for stage, _, _ in calls} >= {"people", "crm_ru", "crm_intl", "web_registrations", "events"}
    assert ("people", CUSTOMERS, CUSTOMERS) in calls
    truth = {}
    for row in _csv(ds.files["ground_truth"]):
        key = (row["source"], row["source_key"])
        assert key not in truth, f"{key} twice in the ground truth"
        truth[key] = row["person_id"]
    return Loaded(
        dataset=ds,
        people={p.person_id: p for p in build_people(CUSTOMERS, SEED)},
        crm_ru=_csv(ds.files["crm_ru"], encoding="cp1251", delimiter=";"),
        crm_intl=_csv(ds.files["crm_intl"], encoding="utf-8-sig"),
        web=_jsonl(ds.files["web_registrations"]),
        loyalty=_csv(ds.files["loyalty_members"]),
        transactions=_csv(ds.files["transactions"]),
        web_events=_jsonl(ds.files["web_events"]),
        truth=truth,
    )


def test_same_arguments_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", customers=400, seed=3, events_per_customer=4)
    b = generate(tmp_path / "b", customers=400, seed=3, events_per_customer=4)
    c = generate(tmp_path / "c", customers=400, seed=4, events_per_customer=4)
    assert a.files.keys() == b.files.keys() == c.files.keys()
    for name in a.files:
        assert a.files[name].read_bytes() == b.files[name].read_bytes(), name
        if name not in ("postcode_overlay", "dataset"):
            assert a.files[name].read_bytes() != c.files[name].read_bytes(), name
    assert a.records == b.records
    assert a.planted == b.planted


def test_encodings_and_layouts(data: Loaded) -> None:
    files = data.dataset.files
    ru = files["crm_ru"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        ru.decode("utf-8")
    text = ru.decode("cp1251")
    assert text.startswith('"' + '";"'.join(RU_COLUMNS) + '"\r\n')
    assert text.count("\r\n") == text.count("\n") == len(data.crm_ru) + 1
    assert all(line.startswith('"') and line.endswith('"') for line in text.splitlines())
    intl = files["crm_intl"].read_bytes()
    assert intl.startswith(b"\xef\xbb\xbf" + ",".join(INTL_COLUMNS).encode() + b"\n")
    assert b"\r\n" not in intl
    loyalty = files["loyalty_members"].read_bytes()
    assert loyalty.startswith(",".join(LOYALTY_COLUMNS).encode() + b"\n")
    assert not loyalty.startswith(b"\xef\xbb\xbf")
    with files["transactions"].open(encoding="utf-8") as f:
        assert f.readline().strip() == "event_id,card_no,occurred_at,amount,currency,category,product,store,channel"
    with files["postcode_overlay"].open(encoding="utf-8") as f:
        assert f.readline().strip() == "country,postcode_prefix,median_income_band,urbanisation"


def test_record_counts_match_the_files_and_the_manifest(data: Loaded) -> None:
    ds = data.dataset
    assert ds.people == CUSTOMERS
    assert ds.records["crm_ru"] == len(data.crm_ru)
    assert ds.records["crm_intl"] == len(data.crm_intl)
    assert ds.records["web_registrations"] == len(data.web)
    assert ds.records["loyalty_members"] == len(data.loyalty)
    assert ds.records["transactions"] == len(data.transactions)
    assert ds.records["web_events"] == len(data.web_events)
    assert ds.records["ground_truth"] == len(data.truth)
    manifest = json.loads(ds.files["dataset"].read_text(encoding="utf-8"))
    assert manifest["seed"] == SEED
    assert manifest["customers"] == CUSTOMERS
    assert manifest["as_of"] == "2026-11-01"
    assert manifest["records"] == ds.records
    assert manifest["planted"] == ds.planted
    assert set(manifest["files"]) == set(ds.files)
    assert all(path.parent == ds.out_dir and path.exists() for path in ds.files.values())


def test_ground_truth_is_a_bijection_with_the_source_records(data: Loaded) -> None:
    keys = (
        [("crm_ru", r["customer_no"]) for r in data.crm_ru]
        + [("crm_intl", r["customer_no"]) for r in data.crm_intl]
        + [("web", str(r["reg_id"])) for r in data.web]
        + [("loyalty", r["card_no"]) for r in data.loyalty]
    )
    assert len(keys) == len(set(keys))
    assert set(keys) == set(data.truth)
    assert set(data.truth.values()) == set(data.people)  # every person is in at least one source
    for r in data.crm_ru:
        assert data.person("crm_ru", r["customer_no"]).country == "RU"
    for r in data.crm_intl:
        assert data.person("crm_intl", r["customer_no"]).country in ("US", "PL")


def test_web_age_codes_fit_the_age_at_registration(data: Loaded) -> None:
    seen = Counter()
    for r in data.web:
        p = data.person("web", str(r["reg_id"]))
        registered = datetime.fromisoformat(str(r["registered_at"])).date()
        assert age_on(p.birth_date, registered) >= 18
        if "age_code" in r:
            assert r["age_code"] == web_age_code(age_on(p.birth_date, registered))
            seen[r["age_code"]] += 1
    assert set(seen) == {1, 2, 3}
    assert 0.05 < 1 - seen.total() / len(data.web) < 0.25  # absent for some


def test_loyalty_age_boxes_fit_except_the_planted_conflicts(data: Loaded) -> None:
    conflicts = 0
    boxes = Counter()
    for r in data.loyalty:
        p = data.person("loyalty", r["card_no"])
        issued = date.fromisoformat(r["card_issued"])
        assert age_on(p.birth_date, issued) >= 18
        if r["age_group"]:
            boxes[r["age_group"]] += 1
            right = paper_age_code(age_on(p.birth_date, issued))
            conflicts += str(right) != r["age_group"]
    assert set(boxes) == {"1", "2", "3"}
    assert conflicts == data.dataset.planted["conflicting_age"]
    assert 0.01 < conflicts / len(data.loyalty) < 0.08


def _is_diminutive(given: str, p: Person) -> bool:
    name = " ".join(given.split()).casefold()
    for nick in diminutives(p.first_name, p.locale):
        forms = {nick, nick.replace("ё", "е"), *(transliterate(nick, s) for s in SCHEMES)}
        if name in {f.casefold() for f in forms}:
            return True
    return False


def test_loyalty_uses_diminutives_at_about_the_documented_rate(data: Loaded) -> None:
    eligible = nick = 0
    for r in data.loyalty:
        p = data.person("loyalty", r["card_no"])
        if diminutives(p.first_name, p.locale):
            eligible += 1
            nick += _is_diminutive(r["given_name"], p)
    assert eligible > 500
    assert 0.25 < nick / eligible < 0.45  # documented: 35 %


def test_russians_type_latin_names_on_the_web_at_about_the_documented_rate(data: Loaded) -> None:
    russians = [r for r in data.web if data.person("web", str(r["reg_id"])).locale == "ru"]
    latin = sum(not has_cyrillic(str(r["full_name"])) for r in russians)
    assert len(russians) > 400
    assert 0.30 < latin / len(russians) < 0.50  # documented: 40 %


def _plain(name: str) -> str:
    return fold_polish(yo_to_e(" ".join(name.split()))).casefold()


def test_loyalty_surnames_carry_staff_typos_at_about_the_documented_rate(data: Loaded) -> None:
    wrong = 0
    for r in data.loyalty:
        p = data.person("loyalty", r["card_no"])
        forms = {_plain(p.last_name), *(_plain(transliterate(p.last_name, s)) for s in SCHEMES)}
        wrong += _plain(r["surname"]) not in forms
    assert 0.04 < wrong / len(data.loyalty) < 0.13  # documented: 8 % (a typo can rarely cancel out)


def test_within_source_duplicates(data: Loaded) -> None:
    crm = Counter(data.truth[(s, r["customer_no"])] for s, rows in (("crm_ru", data.crm_ru),
                  ("crm_intl", data.crm_intl)) for r in rows)  # fmt: skip
    crm_twice = sum(n - 1 for n in crm.values())
    assert crm_twice == data.dataset.planted["crm_duplicates"]
    assert 0.015 < crm_twice / len(crm) < 0.04  # documented: 2.5 %
    web = Counter(data.truth[("web", str(r["reg_id"]))] for r in data.web)
    web_twice = sum(n - 1 for n in web.values())
    assert web_twice == data.dataset.planted["web_duplicates"]
    assert 0.02 < web_twice / len(web) < 0.045  # documented: 3 %
    by_person: dict[str, list[dict[str, object]]] = {}
    for r in data.web:
        by_person.setdefault(data.truth[("web", str(r["reg_id"]))], []).append(r)
    for regs in by_person.values():
        if len(regs) == 2:
            assert regs[0]["email"] != regs[1]["email"]  # registered again with a new address


def test_changed_emails_across_sources(data: Loaded) -> None:
    crm_email = {data.truth[("crm_intl", r["customer_no"])]: r["email"] for r in data.crm_intl if r["email"]}
    same = differ = 0
    for r in data.loyalty:
        pid = data.truth[("loyalty", r["card_no"])]
        if r["email"] and pid in crm_email and "@" in r["email"] and "@" in crm_email[pid]:
            if r["email"].casefold() == crm_email[pid].casefold():
                same += 1
            else:
                differ += 1
    assert 0.08 < differ / (same + differ) < 0.30  # documented: 15 % older addresses, plus re-keyed ones


def _valid_phone(text: str, country: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, country))
    except phonenumbers.NumberParseException:
        return False


def _valid_email(text: str) -> bool:
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def test_planted_problems_are_exactly_what_a_checker_finds(data: Loaded) -> None:
    fields = (
        [("crm_ru", r["customer_no"], r["phone"], r["email"]) for r in data.crm_ru]
        + [("crm_intl", r["customer_no"], r["phone"], r["email"]) for r in data.crm_intl]
        + [("web", str(r["reg_id"]), str(r.get("mobile", "")), str(r["email"])) for r in data.web]
        + [("loyalty", r["card_no"], r["phone"], r["email"]) for r in data.loyalty]
    )
    bad_phones = sum(1 for s, k, phone, _ in fields if phone and not _valid_phone(phone, data.person(s, k).country))
    bad_emails = sum(1 for _, _, _, email in fields if email and not _valid_email(email))
    countries = (
        [r["country"] for r in data.crm_intl]
        + [str(r["country"]) for r in data.web]
        + [r["country"] for r in data.loyalty]
    )
    unknown = sum(1 for c in countries if c and c not in KNOWN_COUNTRIES)
    births = [datetime.strptime(r["birth_date"], "%d.%m.%Y").date() for r in data.crm_ru if r["birth_date"]]
    for r in data.crm_intl:
        if r["birth_date"]:
            fmt = "%m/%d/%Y" if "/" in r["birth_date"] else "%Y-%m-%d"
            births.append(datetime.strptime(r["birth_date"], fmt).date())
    future = sum(1 for b in births if b > AS_OF)
    cards = {r["card_no"] for r in data.loyalty}
    orphans = sum(1 for t in data.transactions if t["card_no"] not in cards)
    found = {
        "invalid_phone": bad_phones,
        "invalid_email": bad_emails,
        "unknown_country": unknown,
        "future_birth_date": future,
        "orphan_transactions": orphans,
    }
    assert found == {kind: data.dataset.planted[kind] for kind in found}
    assert all(found.values()), found  # every kind is present even in a small dataset
    assert future <= len(births) // 500 + 2  # a handful


def test_phone_and_date_styles_per_source(data: Loaded) -> None:
    ru_phone = re.compile(r"\+7 \(\d{3,4}\) [\d-]+|8 \d{3,4} [\d ]+|8\d{10}|\+7\d{10}|8 \(\d{3,4}\) [\d-]+")
    phones = [r["phone"] for r in data.crm_ru if r["phone"]]
    assert sum(bool(ru_phone.fullmatch(p)) for p in phones) > 0.97 * len(phones)
    assert len({re.sub(r"\d", "0", p) for p in phones}) >= 5
    assert all(re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", r["updated_at"]) for r in data.crm_ru)
    assert {r["email_opt_in"] for r in data.crm_ru} == {"Да", "Нет", ""}
    assert {r["title"] for r in data.crm_ru} == {"Г-н", "Г-жа", ""}
    assert any(r["last_name"].isupper() and len(r["last_name"]) > 3 for r in data.crm_ru)
    assert any(r["last_name"] != r["last_name"].strip() for r in data.crm_ru)
    assert any(r["middle_name"].endswith("вна") for r in data.crm_ru)
    addresses = [r["address"] for r in data.crm_ru]
    assert any(a.startswith("ул. ") and ", д. " in a for a in addresses)
    assert any(a.startswith("улица ") and ", дом " in a for a in addresses)
    assert any(re.search(r" ул\., \d+-\d+$", a) for a in addresses)
    us = [r for r in data.crm_intl if data.person("crm_intl", r["customer_no"]).country == "US"]
    pl = [r for r in data.crm_intl if data.person("crm_intl", r["customer_no"]).country == "PL"]
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4}", r["birth_date"]) for r in us if r["birth_date"])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", r["birth_date"]) for r in pl if r["birth_date"])
    assert {r["title"] for r in pl} == {"Pan", "Pani", ""}
    assert any(re.fullmatch(r"\d+ (North|South|East|West) .+", r["street"]) for r in us)
    assert any(re.fullmatch(r"ul\. .+ \d+/\d+", r["street"]) for r in pl)
    assert any(" m. " in r["street"] for r in pl)
    assert {"Y", "N", ""} == {r["sms_opt_in"] for r in data.crm_intl}
    assert all(datetime.fromisoformat(r["updated_at"]).tzinfo for r in data.crm_intl)
    assert {r["sex"] for r in data.loyalty} == {"M", "F", "K", ""}


def test_new_card_holders_exist(data: Loaded) -> None:
    recent = [r for r in data.loyalty if AS_OF - timedelta(days=14) <= date.fromisoformat(r["card_issued"]) < AS_OF]
    assert 0.01 < len(recent) / len(data.loyalty) < 0.06
    numbers = [r["card_no"] for r in data.loyalty]
    assert numbers == sorted(numbers)
    assert [r["card_issued"] for r in data.loyalty] == sorted(r["card_issued"] for r in data.loyalty)


def test_transactions(data: Loaded) -> None:
    issued = {r["card_no"]: date.fromisoformat(r["card_issued"]) for r in data.loyalty}
    currency = {"US": "USD", "RU": "RUB", "PL": "PLN"}
    recent = 0
    business = Counter()
    for t in data.transactions:
        at = datetime.fromisoformat(t["occurred_at"])
        assert at.utcoffset() is not None
        assert at.date() <= AS_OF
        assert t["channel"] in ("store", "online")
        assert re.fullmatch(r"\d+\.\d\d", t["amount"])
        if t["card_no"] not in issued:
            continue
        p = data.person("loyalty", t["card_no"])
        assert at.date() >= issued[t["card_no"]]
        assert t["currency"] == currency[p.country]
        recent += at.date() >= AS_OF - timedelta(days=731)
        group = (p.gender, age_on(p.birth_date, AS_OF) > 30)
        business[group, t["category"] == "business_clothes"] += 1
    assert recent / len(data.transactions) > 0.85
    assert {t["category"] for t in data.transactions} >= {
        "business_clothes", "casual_clothes", "accessories", "shoes", "sportswear", "kids", "beauty"
    }  # fmt: skip

    def share(group: tuple[str, bool]) -> float:
        return business[group, True] / (business[group, True] + business[group, False])

    assert share(("male", True)) > 1.5 * share(("female", True))
    assert share(("male", True)) > share(("male", False))


def test_web_events(data: Loaded) -> None:
    registered = {str(r["reg_id"]): str(r["registered_at"]) for r in data.web}
    types = Counter(str(e["type"]) for e in data.web_events)
    assert set(types) == {"page_view", "app_open", "add_to_cart", "search", "location"}
    for e in data.web_events:
        if e["reg_id"] is not None:
            assert registered[str(e["reg_id"])] <= str(e["occurred_at"])  # same ISO format: text order is time order
        assert str(e["occurred_at"]).endswith("Z")
        props = e["properties"]
        assert isinstance(props, dict)
        if e["type"] == "location":
            assert isinstance(props["lat"], float)
            assert isinstance(props["lon"], float)
    total = len(data.transactions) + len(data.web_events)
    assert abs(total / CUSTOMERS - EVENTS) < 0.1 * EVENTS


def test_postcode_overlay_covers_customer_postcodes(data: Loaded) -> None:
    overlay = {(r["country"], r["postcode_prefix"]) for r in _csv(data.dataset.files["postcode_overlay"])}
    width = {"US": 3, "RU": 3, "PL": 2}
    for p in data.people.values():
        assert (p.country, p.address.postcode[: width[p.country]]) in overlay


def test_small_datasets_work_and_bad_arguments_are_refused(tmp_path: Path) -> None:
    ds = generate(tmp_path / "one", customers=1, seed=1, events_per_customer=0)
    assert ds.people == 1
    assert ds.records["transactions"] == ds.records["web_events"] == 0
    for bad in ({"customers": 0}, {"events_per_customer": -1.0}, {"events_per_customer": float("nan")}):
        with pytest.raises(InputError, match="cannot generate"):
            generate(tmp_path / "bad", **bad)  # type: ignore[arg-type]
    (tmp_path / "taken").write_text("not a directory")
    with pytest.raises(InputError, match="cannot create the output directory"):
        generate(tmp_path / "taken", customers=1)


def test_thousand_customers(tmp_path: Path) -> None:
    ds = generate(tmp_path / "k", customers=1000)
    assert ds.records["ground_truth"] > 1000
    assert all(ds.planted[kind] > 0 for kind in ("invalid_phone", "invalid_email", "future_birth_date"))


def test_malformed_sample(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    problems = write_malformed_sample(path)
    raw = path.read_bytes().split(b"\n")
    assert raw[0].decode() == ",".join(LOYALTY_COLUMNS)
    for line_no, problem in problems.items():
        line = raw[line_no - 1]
        if problem.startswith("too many"):
            assert len(line.split(b",")) == len(LOYALTY_COLUMNS) + 1
        if problem.startswith("too few"):
            assert len(line.split(b",")) < len(LOYALTY_COLUMNS)
        if problem.startswith("not valid UTF-8"):
            with pytest.raises(UnicodeDecodeError):
                line.decode("utf-8")
        if problem.startswith("unterminated"):
            assert line.count(b'"') == 1
    good = [n for n in range(2, len(raw)) if n not in problems and raw[n - 1]]
    assert good
    for n in good:
        assert len(next(csv.reader([raw[n - 1].decode()]))) == len(LOYALTY_COLUMNS)
