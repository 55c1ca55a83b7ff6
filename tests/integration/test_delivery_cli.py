"""`epistola dkim-key`: a private key only its owner can read, and the DNS record that verifies its signatures."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from epistola.cli import app
from epistola.delivery.dkim import DkimSigner
from epistola.testing.dkim import verify_all

MESSAGE = b"From: news@mail.example.com\r\nTo: a@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"


def test_dkim_key_writes_a_private_key_and_prints_the_record(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["dkim-key", "--selector", "rsa2026", "--domain", "mail.example.com", "--algorithm", "rsa"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    key = tmp_path / "rsa2026.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    record = re.search(r'rsa2026\._domainkey\.mail\.example\.com\. IN TXT "(v=DKIM1; k=rsa; p=[^"]+)"', result.output)
    assert record is not None

    signer = DkimSigner(domain="mail.example.com", keys=[("rsa2026", key.read_bytes())])
    assert verify_all(signer.sign(MESSAGE), {"rsa2026._domainkey.mail.example.com": record.group(1)}) == [True]

    again = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert again.exit_code != 0 and "already exists" in str(again.exception or again.output)
    assert DkimSigner(domain="mail.example.com", keys=[("rsa2026", key.read_bytes())]).dns_records()[0][1] == (
        record.group(1)
    )  # an existing key is never replaced
