"""Source mappings: how one source's columns become Epistola's canonical customer fields.

A mapping is YAML, validated with pydantic so a mistake is reported with its path in the file::

    source: crm_ru
    format: {type: csv, encoding: cp1251, delimiter: ";"}
    key: customer_no
    defaults: {country: RU, locale: ru}
    fields:
      first_name: first_name
      birth_date: {from: birth_date, type: date, format: "%d.%m.%Y"}
      age: {from: age_code, type: age_range, recode: {"1": "18-25", "2": "26-40", "3": "41+"}}
    consents:
      email: {from: email_opt_in, recode: {"Да": granted, "Нет": denied}}

Value recodings keep what a source really knew: an age code becomes a range (``26-40``), never a
made-up exact age.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from epistola.errors import InputError, Problem

CANONICAL_FIELDS = frozenset(
    {
        "title",
        "first_name",
        "middle_name",
        "last_name",
        "full_name",
        "gender",
        "birth_date",
        "age",
        "email",
        "phone",
        "address",
        "street",
        "house",
        "flat",
        "postcode",
        "city",
        "region",
        "country",
        "locale",
        "timezone",
        "updated_at",
        "registered_at",
        "card_issued",
        "store",
        "ip",
        "user_agent",
    }
)
CONSENT_CHANNELS = frozenset({"email", "sms", "post", "phone", "push", "web"})
CONSENT_STATES = frozenset({"granted", "denied", "withdrawn"})
FieldType = Literal["str", "int", "float", "bool", "date", "datetime", "age_range"]
_TEMPLATE_VAR = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_.]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(_Strict):
    """Where a canonical field comes from and how its value is cast and recoded."""

    from_: str | None = Field(None, alias="from", description="Source column; dots reach into JSON objects.")
    template: str | None = Field(None, description="Computed field, e.g. '{given} {family}'.")
    type: FieldType = "str"
    format: str | list[str] | None = Field(
        None, description="strptime format(s) for date and datetime fields; several are tried in order."
    )
    timezone: str | None = Field(None, description="Zone of naive datetimes in this column.")
    recode: dict[str, Any] | None = Field(None, description="Source value -> canonical value.")
    default: Any = None
    as_of: str | None = Field(
        None,
        description="For an age range: the canonical date field of the day the source observed it "
        "(e.g. registered_at), so a range stays true as years pass. Default: the import date.",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        if (self.from_ is None) == (self.template is None):
            raise ValueError("give exactly one of 'from' (a source column) or 'template' (a computed value)")
        if self.format and self.type not in ("date", "datetime"):
            raise ValueError("'format' only applies to type date or datetime")
        if self.as_of is not None and self.type != "age_range":
            raise ValueError("'as_of' only applies to type age_range")
        if self.type == "age_range" and self.recode:
            for code, value in self.recode.items():
                if value is not None and not re.fullmatch(r"\d{1,3}(-\d{1,3}|\+)", str(value)):
                    raise ValueError(f"age range for code {code!r} must look like '26-40' or '41+', not {value!r}")
        return self

    def columns(self) -> list[str]:
        if self.from_ is not None:
            return [self.from_]
        return _TEMPLATE_VAR.findall(self.template or "")


class ConsentSpec(_Strict):
    from_: str = Field(alias="from")
    recode: dict[str, Literal["granted", "denied", "withdrawn"] | None]
    purpose: Literal["marketing", "service", "profiling"] = "marketing"


class FormatSpec(_Strict):
    """How records are read: a file (csv, jsonl, xlsx), a SQL query, or batches sent to the REST API."""

    type: Literal["csv", "jsonl", "xlsx", "sql", "api"]
    encoding: str = Field("auto", description="'auto' detects UTF-8 (with or without BOM) or cp1251.")
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    sheet: str | None = Field(None, description="xlsx: the worksheet to read (default: the first).")
    header_row: int = Field(1, ge=1, description="xlsx: the row holding the column names.")
    query: str | None = Field(None, description="sql: the SELECT whose rows are the records.")
    url: str | None = Field(None, description="sql: an SQLAlchemy URL of the database to query.")
    url_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="sql: the environment variable holding the URL instead."
    )

    @model_validator(mode="after")
    def _complete(self) -> FormatSpec:
        if self.type == "sql":
            if not self.query or not self.query.strip():
                raise ValueError("a sql source needs 'query' (the SELECT whose rows are the records)")
            if (self.url is None) == (self.url_env is None):
                raise ValueError("a sql source needs exactly one of 'url' or 'url_env'")
        elif self.query or self.url or self.url_env:
            raise ValueError("'query', 'url' and 'url_env' only apply to type sql")
        if self.sheet is not None and self.type != "xlsx":
            raise ValueError("'sheet' only applies to type xlsx")
        return self


def _shorthand(value: Any) -> Any:
    return {"from": value} if isinstance(value, str) else value


class SourceMapping(_Strict):
    """A validated mapping for one customer source."""

    source: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    description: str = ""
    trust: int = Field(50, ge=0, le=100, description="Survivorship: the more trusted source wins a conflict.")
    format: FormatSpec
    key: str = Field(description="Column holding the record's stable key in this source.")
    phone_region: str | list[str] | None = Field(
        None,
        description="Where national phone numbers are read when a record states no country: a region code "
        "or a list tried in order.",
    )
    defaults: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, FieldSpec]
    consents: dict[str, ConsentSpec] = Field(default_factory=dict)

    @field_validator("fields", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return {k: _shorthand(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("fields")
    @classmethod
    def _canonical(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        unknown = sorted(set(value) - CANONICAL_FIELDS)
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; known: {sorted(CANONICAL_FIELDS)}")
        return value

    @field_validator("phone_region")
    @classmethod
    def _regions(cls, value: str | list[str] | None) -> str | list[str] | None:
        for region in [value] if isinstance(value, str) else value or []:
            if not re.fullmatch(r"[A-Z]{2}", region):
                raise ValueError(f"phone region {region!r} must be a two-letter ISO code such as 'US'")
        return value

    @model_validator(mode="after")
    def _as_of_fields(self) -> SourceMapping:
        for name, spec in self.fields.items():
            if spec.as_of is None:
                continue
            target = self.fields.get(spec.as_of)
            if target is None or target.type not in ("date", "datetime"):
                raise ValueError(f"fields.{name}.as_of must name a mapped date or datetime field, not {spec.as_of!r}")
        return self

    def phone_regions(self) -> list[str]:
        if self.phone_region is None:
            return []
        return [self.phone_region] if isinstance(self.phone_region, str) else list(self.phone_region)

    @field_validator("defaults")
    @classmethod
    def _default_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - CANONICAL_FIELDS)
        if unknown:
            raise ValueError(f"defaults for unknown field(s) {unknown}")
        return value

    @field_validator("consents")
    @classmethod
    def _channels(cls, value: dict[str, ConsentSpec]) -> dict[str, ConsentSpec]:
        unknown = sorted(set(value) - CONSENT_CHANNELS)
        if unknown:
            raise ValueError(f"unknown consent channel(s) {unknown}; known: {sorted(CONSENT_CHANNELS)}")
        return value

    def columns(self) -> set[str]:
        """Every source column the mapping reads (checked against the file's header)."""
        used = {self.key}
        for spec in self.fields.values():
            used.update(spec.columns())
        used.update(spec.from_ for spec in self.consents.values())
        return used


class EventMapping(_Strict):
    """A mapping for an event file (transactions, web and app activity)."""

    source: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    description: str = ""
    kind: Literal["events"]
    format: FormatSpec
    key: str = Field(description="Column with the event id; re-importing the same id is a no-op.")
    type: str | None = Field(None, description="Fixed event type, when the file has no type column.")
    type_from: str | None = None
    identity: dict[str, str] = Field(
        description="How an event finds its customer: {source: <customer source>, key: <column>} or "
        "{email: <column>}; several may be given and are tried in order."
    )
    occurred_at: FieldSpec
    amount: str | None = None
    currency: str | None = None
    category: str | None = None
    properties: list[str] = Field(default_factory=list, description="Columns kept as event properties.")

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return _shorthand(value)

    @model_validator(mode="after")
    def _typed(self) -> EventMapping:
        if (self.type is None) == (self.type_from is None):
            raise ValueError("give exactly one of 'type' (fixed) or 'type_from' (a column)")
        if not {"source", "email", "key"} >= set(self.identity) or not self.identity:
            raise ValueError("identity takes 'source' with 'key', and/or 'email'")
        if ("source" in self.identity) != ("key" in self.identity):
            raise ValueError("identity 'source' and 'key' go together")
        return self


Mapping = SourceMapping | EventMapping


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; errors name the file and the path inside it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"mapping file not found: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark else None
        raise InputError(
            f"mapping {path.name} is not valid YAML",
            problems=[Problem(message=str(exc), file=str(path), row=row)],
        ) from None
    if not isinstance(raw, dict):
        raise InputError(f"mapping {path.name} must be a YAML mapping at the top level")
    model: type[SourceMapping] | type[EventMapping] = EventMapping if raw.get("kind") == "events" else SourceMapping
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Problem(
                message=err["msg"].removeprefix("Value error, "),
                file=str(path),
                field=".".join(str(p) for p in err["loc"]) or None,
            )
            for err in exc.errors()
        ]
        raise InputError(f"mapping {path.name} is invalid", problems=problems) from None
