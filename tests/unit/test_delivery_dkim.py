"""DKIM signatures made by `DkimSigner` verify with dkimpy: RSA-2048, Ed25519, both at once, the fallback."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest
from dkim.canonicalization import CanonicalizationPolicy  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.config import load_settings
from epistola.content.mime import MailParts, build_message
from epistola.delivery import openssl
from epistola.delivery.dkim import (
    DEFAULT_HEADERS,
    DkimSigner,
    SigningComposer,
    generate_key,
    load_key,
    parse_headers,
    parse_key_list,
    signed_header_data,
)
from epistola.delivery.ports import ClaimedMessage, Envelope, Skip
from epistola.errors import ConfigError, PermanentDeliveryError
from epistola.testing import FixedClock
from epistola.testing.dkim import verify_all

RSA = generate_key("rsa")
ED = generate_key("ed25519")
MESSAGE = (
    b"From: =?utf-8?q?Epistola_D=C3=A9mo?= <news@epistola.example>\r\n"
    b"To: Anna <anna@example.org>\r\n"
    b"Subject: Autumn   collection\r\n"
    b"Date: Mon, 02 Nov 2026 09:00:00 +0000\r\n"
    b"Message-ID: <1.abc@epistola.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hello Anna,  \r\n\r\nour new collection is here. =E2=80=94 Epistola\r\n\r\n\r\n"
)


def signer(*keys: tuple[str, bytes]) -> DkimSigner:
    return DkimSigner(domain="epistola.example", keys=list(keys), clock=FixedClock())


@pytest.mark.parametrize(
    ("keys", "algorithms"),
    [
        ([("rsa2026", RSA)], ["rsa-sha256"]),
        ([("ed2026", ED)], ["ed25519-sha256"]),
        ([("rsa2026", RSA), ("ed2026", ED)], ["rsa-sha256", "ed25519-sha256"]),
    ],
)
def test_signatures_verify_with_dkimpy(keys: list[tuple[str, bytes]], algorithms: list[str]) -> None:
    dkim_signer = signer(*keys)
    signed = dkim_signer.sign(MESSAGE)

    assert signed.endswith(MESSAGE)  # the message itself is untouched; only headers are prepended
    assert verify_all(signed, dict(dkim_signer.dns_records())) == [True] * len(keys)
    for algorithm in algorithms:
        assert f"a={algorithm}".encode() in signed
    assert b"d=epistola.example" in signed and b"c=relaxed/simple" in signed


def test_rsa_key_is_2048_bits_and_dns_record_is_published_form() -> None:
    key = load_key(RSA, where="test")
    assert key.algorithm == "rsa" and key.bits == 2048
    ((name, value),) = signer(("s1", RSA)).dns_records()
    assert name == "s1._domainkey.epistola.example"
    assert value.startswith("v=DKIM1; k=rsa; p=MIIBIjAN")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m.replace(b"new collection", b"old collection"),  # body
        lambda m: m.replace(b"Subject: Autumn", b"Subject: Winter"),  # a signed header
        lambda m: m.replace(b"To: Anna", b"Cc: x@evil.example\r\nTo: Anna"),  # a header signed as absent
    ],
)
def test_a_changed_message_fails_verification(tamper) -> None:  # type: ignore[no-untyped-def]
    dkim_signer = signer(("rsa2026", RSA), ("ed2026", ED))
    tampered = tamper(dkim_signer.sign(MESSAGE))
    assert verify_all(tampered, dict(dkim_signer.dns_records())) == [False, False]


def test_relaxed_header_canonicalisation_survives_refolding_by_a_relay() -> None:
    dkim_signer = signer(("ed2026", ED))
    signed = dkim_signer.sign(MESSAGE)
    relayed = signed.replace(b"Subject: Autumn   collection", b"Subject:  Autumn\r\n\tcollection")
    relayed = relayed.replace(b"To: Anna <anna@example.org>", b"to:   Anna <anna@example.org>")
    relayed = relayed + b"\r\n\r\n"  # empty lines at the end do not count (simple body)
    assert verify_all(relayed, dict(dkim_signer.dns_records())) == [True]


def test_without_openssl_rsa_falls_back_to_dkimpy(monkeypatch: pytest.MonkeyPatch) -> None:
    records = dict(signer(("rsa2026", RSA)).dns_records())
    monkeypatch.setenv("EPISTOLA_NO_OPENSSL", "1")
    assert not openssl.available()
    slow = signer(("rsa2026", RSA))
    assert not isinstance(slow.selectors[0].key, openssl.PrivateKey)
    assert verify_all(slow.sign(MESSAGE), records) == [True]


@pytest.mark.parametrize(
    ("material", "complaint"),
    [
        (b"not a key", "neither PEM nor a base64 Ed25519 key"),
        (b"c2hvcnQ=", "must decode to 32 bytes"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a readable PEM private key"),
    ],
)
def test_bad_keys_name_the_setting_and_selector(material: bytes, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        signer(("rsa2026", material))
    assert "EPISTOLA_DKIM_KEYS (rsa2026)" in caught.value.message and complaint in caught.value.message


def test_short_rsa_keys_are_refused() -> None:
    short = openssl.PrivateKey.generate_rsa(768).to_pem()
    with pytest.raises(ConfigError, match="shorter than 1024 bits"):
        signer(("old", short))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s1=/k/rsa.pem", [("s1", "/k/rsa.pem")]),
        (" rsa-2026 = a.pem , ed.2026=b.key ,", [("rsa-2026", "a.pem"), ("ed.2026", "b.key")]),
    ],
)
def test_key_list_parses(value: str, expected: list[tuple[str, str]]) -> None:
    assert parse_key_list(value) == expected


@pytest.mark.parametrize("value", ["", "s1", "=a.pem", "s 1=a.pem", "s1="])
def test_key_list_errors_show_an_example(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_key_list(value)
    assert "EPISTOLA_DKIM_KEYS" in str(caught.value) and "Example" in (caught.value.hint or "")


def test_settings_build_the_signer_and_name_an_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "ed.key").write_bytes(ED)
    settings = load_settings(dkim_domain="epistola.example", dkim_keys=f"ed1={tmp_path / 'ed.key'}")
    built = DkimSigner.from_settings(settings)
    assert built is not None and [s.name for s in built.selectors] == ["ed1"]
    assert DkimSigner.from_settings(load_settings()) is None
    missing = load_settings(dkim_domain="epistola.example", dkim_keys=f"ed1={tmp_path / 'nope.key'}")
    with pytest.raises(ConfigError, match=r"selector 'ed1' at .*nope\.key"):
        DkimSigner.from_settings(missing)


def test_from_must_be_signed_and_messages_need_a_body_separator() -> None:
    with pytest.raises(ConfigError, match="From"):
        DkimSigner(domain="epistola.example", keys=[("s", ED)], headers=["to", "subject"])
    with pytest.raises(PermanentDeliveryError):
        signer(("s", ED)).sign(b"From: a@b\r\nSubject: no body")


class _Plain:
    def compose(self, messages: Sequence[ClaimedMessage]) -> list[Envelope | Skip]:
        return [
            Envelope(message_id=m.id, sender="news@epistola.example", recipient="anna@example.org", data=MESSAGE)
            if m.id % 2
            else Skip(message_id=m.id, reason="no consent")
            for m in messages
        ]


def test_signing_composer_signs_each_envelope_once_and_passes_skips() -> None:
    dkim_signer = signer(("ed2026", ED))
    batch = [
        ClaimedMessage(id=i, step_id=1, campaign_id=1, customer_id=i, channel="email", recipient=None, attempts=1)
        for i in (1, 2, 3)
    ]
    results = SigningComposer(_Plain(), dkim_signer).compose(batch)
    envelopes = [r for r in results if isinstance(r, Envelope)]
    assert [r.message_id for r in envelopes] == [1, 3] and isinstance(results[1], Skip)
    for envelope in envelopes:
        assert envelope.data.count(b"DKIM-Signature:") == 1
        assert verify_all(envelope.data, dict(dkim_signer.dns_records())) == [True]


# Our canonicalisation against dkimpy's, over messages with folded, tabbed, repeated, absent and oddly cased
# header fields and bodies with and without trailing empty lines.
_NAMES = st.sampled_from(
    ["From", "from", "TO", "Subject", "Cc", "Reply-To", "Date", "X-Mailer", "List-Unsubscribe", "Message-ID", ":odd"]
)
_WORDS = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"), max_size=12)
_GAPS = st.sampled_from([" ", "  ", "\t", " \t ", "\r\n ", "\r\n\t", ""])
_VALUES = st.lists(st.tuples(_GAPS, _WORDS), max_size=6).map(lambda parts: "".join(g + w for g, w in parts))
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), min_size=1, max_size=12).map(
    lambda fields: [("From", " a@b.example"), *fields] if not any(n.lower() == "from" for n, _ in fields) else fields
)
_BODIES = st.lists(st.text(alphabet="ab .=\t", max_size=20), max_size=6).map(
    lambda lines: "".join(line + "\r\n" for line in lines)
) | st.sampled_from(["", "\r\n", "x", "x\r\n\r\n\r\n"])


def _message(fields: list[tuple[str, str]], body: str) -> bytes:
    return ("".join(f"{name}:{value}\r\n" for name, value in fields) + "\r\n" + body).encode()


@settings(max_examples=300, deadline=None)
@given(fields=_HEADERS, body=_BODIES)
def test_header_canonicalisation_is_dkimpys(fields: list[tuple[str, str]], body: str) -> None:
    message = _message(fields, body)
    block = message[: message.find(b"\r\n\r\n") + 2]
    include = [*(h.encode() for h in DEFAULT_HEADERS), b"from", b"to", b"x-mailer"]
    parsed, _ = dkim.rfc822_parse(block + b"\r\n")
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/simple")
    theirs = b"".join(n + b":" + v for n, v in dkim.select_headers(policy.canonicalize_headers(parsed), include))
    assert signed_header_data(parse_headers(block), include) == theirs


@settings(max_examples=60, deadline=None)
@given(fields=_HEADERS, sender=_VALUES, body=_BODIES)
def test_generated_messages_verify_with_dkimpy(fields: list[tuple[str, str]], sender: str, body: str) -> None:
    # One From: dkimpy refuses a second one when verifying (a forged From added above the signed one).
    fields = [("From", sender), *((n, v) for n, v in fields if n.lower() != "from")]
    dkim_signer = DkimSigner(
        domain="epistola.example", keys=[("ed2026", ED)], headers=[*DEFAULT_HEADERS, "x-mailer"], clock=FixedClock()
    )
    signed = dkim_signer.sign(_message(fields, body))
    assert verify_all(signed, dict(dkim_signer.dns_records())) == [True]


def test_composed_demo_messages_verify_with_both_keys() -> None:
    dkim_signer = signer(("rsa2026", RSA), ("ed2026", ED))
    parts = MailParts(
        sender="Epistola Démo <news@epistola.example>",
        recipient="anna@example.org",
        recipient_name="Anna Kowalska-Wiśniewska",
        subject="Anna, the autumn collection is here — with a long subject that the encoder has to fold over lines",
        text="Dear Anna,\n\n.a line starting with a dot\n" + "word " * 60,
        html="<p>Dear Anna,</p>\n<style>\n.mj-column { width: 100%; }\n</style>" + "<td>cell</td>" * 80,
        date=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        message_id="1.abc@epistola.example",
        headers={
            "List-Unsubscribe": "<https://x.example/unsubscribe/t>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    signed = dkim_signer.sign(build_message(parts))
    assert verify_all(signed, dict(dkim_signer.dns_records())) == [True, True]
