"""Synthetic demo data: a realistic customer base in differently shaped source files, plus the ground
truth of who is who, for demos, tests and benchmarks of identity resolution and campaigns.

    from epistola.synth import generate
    dataset = generate(Path("demo-data"), customers=10_000, seed=7)

Files: crm_ru.csv, crm_intl.csv, web_registrations.jsonl, loyalty_members.csv, transactions.csv,
web_events.jsonl, postcode_overlay.csv, ground_truth.csv, dataset.json. Everything is relative to the
fixed as-of date 2026-11-01, so a dataset does not change with the day it is generated.

The noise is modelled on how people and clerks behave, not on what any matcher can undo
(each module's docstring has the detail):

- persons (`people`): en/US 45 %, ru/RU 30 %, pl/PL 25 %; ~8 % share address and surname with a
  relative; common names repeat (Zipf-weighted tables); in CRM 70 %, web 50 %, loyalty 45 %.
- across sources (`sources`): the first source holds the current e-mail, later ones an older
  address 15 % of the time; a household landline instead of the mobile 35 % where there is one.
- CRM (`crm`): typos 3 % and CASE/spacing mess 5 % per name field; 2.5 % of persons keyed twice.
- web (`web`): Russians in Latin 40 % (four transliteration schemes), "Last First" 12 %,
  diminutives 15 %, typos 5 %; 3 % of persons registered twice with a new e-mail.
- loyalty (`loyalty`): diminutives 35 %, staff typos 8 %, partial addresses, the paper age coding
  with its conflicts; 3 % of cards issued in the last 14 days.
- planted problems, counted in `GeneratedDataset.planted`: invalid_phone and invalid_email 0.8 % of
  filled fields, unknown_country 0.5 %, future_birth_date 0.05 % of CRM rows (at least one),
  conflicting_age (loyalty), orphan_transactions 0.2 % (at least one); plus crm_duplicates and
  web_duplicates.
"""

from epistola.synth.generator import GeneratedDataset, generate
from epistola.synth.malformed import write_malformed_sample

__all__ = ["GeneratedDataset", "generate", "write_malformed_sample"]
