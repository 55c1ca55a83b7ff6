"""Permission: consent with proof, the consent policy, suppression lists, privacy links, data-subject rights.

The modules, from the pure core outwards:

- ``model``: entries, replaying a history, merging without widening (pure)
- ``policy``: which channel × purpose × country needs opt-in (pure, one setting)
- ``keys``, ``tokens``, ``links``: versioned keys, signed preference / unsubscribe links and headers (pure)
- ``texts``: consent statements (versioned, hashed) and page / SMS texts in en, ru, pl (pure)
- ``ledger``: the append-only ledger in the store; ``gate``: the send-time check every composer calls
- ``suppression``: keyed-hash suppression lists; ``preferences``: the preference centre and unsubscribe
- ``sms_keywords``: STOP / START / HELP with exactly one confirmation; ``replies``: sending it, at most once
- ``subjects``, ``export``, ``erasure``, ``rectify``: data-subject requests

Import from the module that defines a name; this package imports nothing itself, so that settings can
use the pure parts without pulling in the store.
"""

__all__ = [
    "erasure",
    "export",
    "gate",
    "keys",
    "ledger",
    "links",
    "model",
    "policy",
    "preferences",
    "rectify",
    "replies",
    "sms_keywords",
    "subjects",
    "suppression",
    "texts",
    "tokens",
]
