"""What a bounce means: hard (the address is no good), soft (try again later), or neither — pure rules.

The enhanced status code (RFC 3463) decides first: class 5 is permanent, class 4 transient. Permanent
failures that say nothing about the address (a full mailbox, a message too large, a policy or spam
block aimed at the sender) count as soft: suppressing a customer because our IP was blocked would punish
the wrong party. Where a server sends no code, or only the generic 5.0.0, the diagnostic text decides,
with the phrases the big mail systems use.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["hard", "soft", "complaint", "delayed", "delivered"]

STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

# Permanent codes that are about the address: the only ones that suppress at once.
HARD_SUBJECTS = frozenset(
    {
        "1.0",  # other address status
        "1.1",  # bad destination mailbox address (user unknown)
        "1.2",  # bad destination system address (no such domain)
        "1.3",  # bad destination mailbox address syntax
        "1.6",  # destination mailbox has moved, no forwarding address
        "1.10",  # recipient address has null MX (RFC 7505); Exchange: RecipientNotFound
        "2.1",  # mailbox disabled, not accepting messages
        "4.4",  # unable to route (no MX, domain does not resolve)
    }
)

HARD_PHRASES = re.compile(
    r"user unknown|unknown user|no such user|no such (?:mailbox|recipient|address)|does ?n[o']t exist|"
    r"account (?:that you tried to reach )?(?:does not exist|is disabled|has been disabled)|"
    r"invalid (?:recipient|mailbox|address)|unknown (?:recipient|mailbox|address)|recipient(?: address)? rejected|"
    r"mailbox (?:unavailable|not found|disabled)|address rejected|recipient not found|no mailbox here|"
    r"doesn't have an? [\w.-]+ account|not a valid (?:mailbox|recipient)|host or domain name not found|"
    r"domain (?:not found|does not exist)|undeliverable address",
    re.IGNORECASE,
)
SOFT_PHRASES = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|insufficient (?:storage|system storage)|"
    r"try again later|temporar(?:y|ily)|retry timeout|deferred|greylist|rate limit|too many|"
    r"message (?:is )?too (?:big|large)|spam|blocked|blacklist|block ?list|reputation|policy",
    re.IGNORECASE,
)


def status_code(text: str | None) -> str | None:
    """The first enhanced status code in `text` (``5.1.1``), normalised, or None."""
    if not text:
        return None
    found = STATUS_RE.search(text)
    return None if found is None else f"{found[1]}.{int(found[2])}.{int(found[3])}"


def classify(*, action: str | None, status: str | None, diagnostic: str | None) -> Kind:
    """Hard, soft, delayed or delivered, from a DSN's Action, Status and Diagnostic-Code (any may be missing).

    >>> classify(action="failed", status="5.1.1", diagnostic=None)
    'hard'
    >>> classify(action="failed", status="5.2.2", diagnostic="mailbox full")
    'soft'
    """
    act = (action or "failed").strip().lower()
    if act == "delayed":
        return "delayed"
    if act in ("delivered", "relayed", "expanded"):
        return "delivered"
    code = status_code(status) or status_code(diagnostic)
    text = diagnostic or ""
    if code is not None and code.startswith("2."):
        return "delivered"
    if code is not None and code.startswith("4."):
        return "soft"
    if code is not None and code != "5.0.0":
        subject = code.split(".", 1)[1]
        if subject in HARD_SUBJECTS:
            return "hard"
        if subject.startswith(("2.", "3.", "7.", "4.")) or SOFT_PHRASES.search(text):
            # 5.2.2 full, 5.3.4 too big, 5.7.x policy / spam: about us or the moment, not the address
            return "hard" if HARD_PHRASES.search(text) and not SOFT_PHRASES.search(text) else "soft"
        return "hard"
    # no code, or the generic 5.0.0: the words decide; a bare permanent failure is hard
    if SOFT_PHRASES.search(text) and not HARD_PHRASES.search(text):
        return "soft"
    if HARD_PHRASES.search(text):
        return "hard"
    smtp = re.search(r"\b([45])\d\d\b", text)
    if smtp is not None:
        return "hard" if smtp[1] == "5" else "soft"
    return "hard" if code == "5.0.0" else "soft"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower()
