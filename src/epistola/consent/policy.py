"""The consent policy: which channel × purpose × country needs an opt-in, and which allows sending until
the customer opts out.

It is a pure table with a small text syntax so it can live in one setting
(``EPISTOLA_CONSENT_POLICY``), checked when settings load::

    email:marketing=opt_in; post:marketing=opt_out; email:marketing:US=opt_out; *:service=opt_out

The most specific rule wins: a rule for the customer's country beats one for every country, a named
channel beats ``*``, a named purpose beats ``*``. Rules given in the setting are laid over the defaults
below, so an operator only writes the exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from epistola.consent.model import CHANNELS, PURPOSES

Requirement = Literal["opt_in", "opt_out"]
RuleKey = tuple[str, str, str]  # (channel or *, purpose or *, country or *)

#: Safe defaults (GDPR / ePrivacy): electronic marketing and profiling need a prior opt-in; post and
#: on-site messages may be sent until the customer objects; service messages go unless refused.
DEFAULT_RULES: Mapping[RuleKey, Requirement] = MappingProxyType(
    {
        ("*", "marketing", "*"): "opt_in",
        ("post", "marketing", "*"): "opt_out",
        ("web", "marketing", "*"): "opt_out",
        ("*", "service", "*"): "opt_out",
        ("*", "profiling", "*"): "opt_in",
    }
)

_RULE = re.compile(r"^(?P<channel>[a-z*]+):(?P<purpose>[a-z*]+)(?::(?P<country>[A-Za-z]{2}|\*))?=(?P<req>[a-z_]+)$")


@dataclass(frozen=True, kw_only=True)
class Decision:
    allowed: bool
    requirement: Requirement
    reason: str = ""  # why not, for the outbox's `error` column


@dataclass(frozen=True)
class ConsentPolicy:
    rules: Mapping[RuleKey, Requirement] = field(default_factory=lambda: dict(DEFAULT_RULES))

    def requirement(self, channel: str, purpose: str, country: str | None) -> Requirement:
        """The most specific rule for this channel, purpose and country."""
        code = (country or "*").upper()
        for key in (
            (channel, purpose, code),
            (channel, "*", code),
            ("*", purpose, code),
            ("*", "*", code),
            (channel, purpose, "*"),
            (channel, "*", "*"),
            ("*", purpose, "*"),
            ("*", "*", "*"),
        ):
            found = self.rules.get(key)
            if found is not None:
                return found
        return "opt_in"  # nothing said: the safe side

    def decide(self, channel: str, purpose: str, country: str | None, status: str | None) -> Decision:
        """May a message on `channel` for `purpose` go to a customer in `country` whose consent is `status`?"""
        need = self.requirement(channel, purpose, country)
        if status in ("denied", "withdrawn"):
            return Decision(allowed=False, requirement=need, reason=f"{channel} {purpose} consent {status}")
        if need == "opt_in" and status != "granted":
            return Decision(
                allowed=False, requirement=need, reason=f"{channel} {purpose} needs opt-in: no consent recorded"
            )
        return Decision(allowed=True, requirement=need)

    def describe(self) -> list[tuple[str, str, str, Requirement]]:
        """Every rule in force, most general first, for `epistola privacy policy` and the API."""
        return sorted(((c, p, k, r) for (c, p, k), r in self.rules.items()), key=lambda r: (r[2] != "*", r))


def parse_policy(text: str | None, *, base: Mapping[RuleKey, Requirement] = DEFAULT_RULES) -> ConsentPolicy:
    """Parse rules separated by `;` or `,` and lay them over `base`. Raises ValueError naming the rule."""
    rules = dict(base)
    for position, raw in enumerate(re.split(r"[;,]", text or ""), start=1):
        item = raw.strip().replace(" ", "")
        if not item:
            continue
        match = _RULE.match(item)
        if match is None:
            raise ValueError(f"rule {position} {item!r} is not channel:purpose[:country]=opt_in|opt_out")
        channel, purpose, country, req = match["channel"], match["purpose"], (match["country"] or "*"), match["req"]
        if channel != "*" and channel not in CHANNELS:
            raise ValueError(f"rule {position}: unknown channel {channel!r}; known: {', '.join(CHANNELS)} or *")
        if purpose != "*" and purpose not in PURPOSES:
            raise ValueError(f"rule {position}: unknown purpose {purpose!r}; known: {', '.join(PURPOSES)} or *")
        if req not in ("opt_in", "opt_out"):
            raise ValueError(f"rule {position}: {req!r} must be opt_in or opt_out")
        rules[(channel, purpose, country.upper())] = req  # type: ignore[assignment]
    return ConsentPolicy(rules)
