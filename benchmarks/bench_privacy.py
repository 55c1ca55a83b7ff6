"""Privacy: the consent gate at send time, signed links, and erasure, on a 100k-customer SQLite store.

    .venv/bin/python benchmarks/run.py privacy

The store holds 100,000 customers with e-mail addresses, 200,000 consent entries (grants, refusals,
expiries), 10,000 suppressed addresses and 50,000 audit rows. Figures:

- ``gate_checks_per_s``: messages the consent gate decides per second, in worker-sized batches of 200
  (erasure, suppression and the ledger, as the e-mail composer calls it);
- ``links_signed_and_verified_per_s``: preference / unsubscribe tokens signed and verified;
- ``erasure_s``: erasing one customer (every table, audit scan), without and with the final scan of
  every table (``verify``).
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import WORK, figure, timed
from sqlalchemy import insert

from epistola.consent import suppression
from epistola.consent.erasure import erase_customer
from epistola.consent.gate import ConsentGate, SendRequest
from epistola.consent.keys import Keyring
from epistola.consent.tokens import TokenKind, sign, verify
from epistola.store import make_engine, upgrade
from epistola.store.schema import audit_log, consents, customers, suppressions

N = 100_000
NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)
KEYRING = Keyring.single("bench-secret-" * 3)


def build(path: Path) -> None:
    if path.exists():
        path.unlink()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    rng = random.Random(5)
    with engine.begin() as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "email": f"person{i}@example.com",
                    "first_name": f"Name{i}",
                    "country": rng.choice(["PL", "RU", "US", "GB"]),
                    "locale": "en",
                    "attributes": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(N)
            ],
        )
        rows = []
        for i in range(2 * N):
            recorded = NOW - timedelta(days=rng.randint(1, 900), seconds=i)
            rows.append(
                {
                    "customer_id": rng.randint(1, N),
                    "channel": rng.choice(["email", "email", "sms"]),
                    "purpose": "marketing",
                    "status": rng.choice(["granted", "granted", "denied", "withdrawn"]),
                    "source": "bench",
                    "proof": {"kind": "import"},
                    "recorded_at": recorded,
                    "expires_at": recorded + timedelta(days=365) if rng.random() < 0.2 else None,
                }
            )
        conn.execute(insert(consents), rows)
        conn.execute(
            insert(suppressions),
            [
                {
                    "scope": rng.choice(["all", "email"]),
                    "identifier_hash": suppression.digest(
                        KEYRING, suppression.identifier("email", f"person{i}@example.com")
                    ),
                    "key_version": 1,
                    "reason": "hard_bounce",
                    "source": "bench",
                    "created_at": NOW,
                }
                for i in rng.sample(range(N), 10_000)
            ],
        )
        conn.execute(
            insert(audit_log),
            [
                {
                    "occurred_at": NOW,
                    "actor": "bench",
                    "action": "consent.record",
                    "entity": "customer",
                    "entity_id": str(i),
                    "details": {"channel": "email", "status": "granted"},
                    "origin": "preference-centre",
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
                for i in range(50_000)
            ],
        )
    engine.dispose()


def main() -> None:
    WORK.mkdir(exist_ok=True)
    path = WORK / "privacy.db"
    with timed() as t:
        build(path)
    print(f"built {path} in {t[0]:.1f} s")
    engine = make_engine(f"sqlite:///{path}")
    gate = ConsentGate(keyring=KEYRING)
    rng = random.Random(7)
    ids = rng.sample(range(1, N + 1), 20_000)
    requests = [
        SendRequest(
            key=i,
            customer_id=cid,
            channel="email",
            purpose="marketing",
            country="PL",
            address=f"person{cid - 1}@example.com",
        )
        for i, cid in enumerate(ids)
    ]
    blocked = 0
    with timed() as t, engine.connect() as conn:
        for start in range(0, len(requests), 200):
            blocked += len(gate.check(conn, requests[start : start + 200], NOW))
    print(f"gate: {len(requests) - blocked:,} of {len(requests):,} allowed")
    figure("gate_checks_per_s", len(requests) / t[0], "messages/s")

    with timed() as t:
        for i in range(20_000):
            token = sign(KEYRING, TokenKind.UNSUBSCRIBE, i + 1, i)
            assert verify(KEYRING, TokenKind.UNSUBSCRIBE, token) is not None
    figure("links_signed_and_verified_per_s", 20_000 / t[0], "tokens/s")

    for verify_all, name in ((False, "erasure_s"), (True, "erasure_with_full_scan_s")):
        with timed() as t, engine.begin() as conn:
            erase_customer(
                conn, ids[0 if not verify_all else 1], keyring=KEYRING, now=NOW, actor="bench", verify=verify_all
            )
        figure(name, t[0], "s")
    engine.dispose()


if __name__ == "__main__":
    main()
