"""Delivery set-up commands: DKIM keys and the DNS records that go with them."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from epistola.cli.common import console
from epistola.delivery.dkim import DkimSigner, generate_key
from epistola.errors import ConfigError, InputError


def dkim_key(
    selector: str = typer.Option(..., "--selector", help="DKIM selector, e.g. ed2026 (the s= tag and DNS label)."),
    domain: str = typer.Option(..., "--domain", help="Signing domain (d=), normally your From domain."),
    algorithm: str = typer.Option("ed25519", "--algorithm", help="ed25519, or rsa (2048 bits)."),
    out: Path = typer.Option(Path("dkim"), "--out", help="Folder for the private key file."),
) -> None:
    """Create a DKIM private key and print the DNS TXT record to publish for it.

    Example: epistola dkim-key --selector ed2026 --domain mail.example.com --algorithm ed25519

    Then set EPISTOLA_DKIM_DOMAIN=mail.example.com and EPISTOLA_DKIM_KEYS=ed2026=dkim/ed2026.key
    (sign with two keys, RSA and Ed25519, by listing both).
    """
    if algorithm not in ("rsa", "ed25519"):
        raise InputError(f"--algorithm must be rsa or ed25519, not {algorithm!r}")
    path = out / f"{selector}.{'pem' if algorithm == 'rsa' else 'key'}"
    if path.exists():
        raise InputError(
            f"{path} already exists", hint="Choose another selector or --out folder; keys are not replaced."
        )
    material = generate_key(algorithm)
    signer = DkimSigner(domain=domain, keys=[(selector, material)], where="the new key")
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private: owner only
    with os.fdopen(fd, "wb") as fh:
        fh.write(material)
    try:
        ((name, value),) = signer.dns_records()
    except ConfigError as exc:
        raise ConfigError(f"the key was written to {path}, but {exc.message}") from None
    console.print(f"private key: {path} (keep it secret; mode 600)")
    console.print(f'publish this TXT record:\n\n{name}. IN TXT "{value}"\n', soft_wrap=True)
    console.print(f"then: EPISTOLA_DKIM_DOMAIN={domain} EPISTOLA_DKIM_KEYS={selector}={path}", soft_wrap=True)
