"""The operational store: one SQLAlchemy Core schema for SQLite and PostgreSQL.

Each domain package owns the queries on its tables; this module only declares them. Alembic migrations
in ``migrations/`` must produce exactly this schema (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from epistola.store.types import BigId, Json, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[int]:
    return Column("id", BigId, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, *, nullable: bool = False, index: bool = True, cascade: bool = False) -> Column[int]:
    return Column(
        name,
        BigId,
        ForeignKey(target, ondelete="CASCADE" if cascade else None),
        nullable=nullable,
        index=index,
    )


# --- hub: where data comes from -------------------------------------------------------------------

sources = Table(
    "sources",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("trust", Integer, nullable=False, default=50),  # survivorship: higher wins ties
    Column("mapping", Json),  # the mapping the source was last imported with
    Column("created_at", UTCDateTime, nullable=False),
)

imports = Table(
    "imports",
    metadata,
    _id(),
    _fk("source_id", "sources.id"),
    Column("file", Text, nullable=False),
    Column("status", String(20), nullable=False),  # running | done | failed
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("stats", Json, nullable=False, default=dict),
)

source_records = Table(
    "source_records",
    metadata,
    _id(),
    _fk("source_id", "sources.id", index=False),
    Column("source_key", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("data", Json, nullable=False),  # the record as the source said it, after field mapping
    Column("normalized", Json, nullable=False),  # canonical values and validity flags
    Column("quality", String(1000), nullable=False, default=""),
    _fk("customer_id", "customers.id", nullable=True),
    _fk("import_id", "imports.id", index=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),  # last time its content changed
    Column("missing_since", UTCDateTime),  # set when a re-import no longer contains the record
    UniqueConstraint("source_id", "source_key"),
)

import_rejects = Table(
    "import_rejects",
    metadata,
    _id(),
    _fk("import_id", "imports.id", cascade=True),
    Column("row", Integer),
    Column("field", String(100)),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False, default=""),
)

# --- customers --------------------------------------------------------------------------------------

customers = Table(
    "customers",
    metadata,
    _id(),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("email", String(320), index=True),
    Column("phone", String(32), index=True),
    Column("gender", String(1)),  # f | m | x
    Column("birth_date", Date),
    Column("age_min", Integer),  # what the sources really knew: a range, not a made-up age
    Column("age_max", Integer),
    Column("locale", String(10), nullable=False, default="en"),
    Column("country", String(2)),
    Column("region", String(100)),
    Column("city", String(200)),
    Column("postcode", String(20)),
    Column("street", String(300)),
    Column("timezone", String(64)),
    Column("attributes", Json, nullable=False, default=dict),
    Column("merged_into", BigId, ForeignKey("customers.id"), index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, index=True),  # the mart's change watermark
    CheckConstraint("gender IN ('f', 'm', 'x')", name="gender"),
)

customer_lineage = Table(
    "customer_lineage",
    metadata,
    _fk("customer_id", "customers.id", index=False, cascade=True),
    Column("field", String(50), nullable=False),
    _fk("source_record_id", "source_records.id", index=True),
    Column("observed_at", UTCDateTime, nullable=False),
    Index("ix_customer_lineage_pk", "customer_id", "field", unique=True),
)

consents = Table(
    "consents",
    metadata,
    _id(),
    _fk("customer_id", "customers.id", index=False),
    Column("channel", String(10), nullable=False),  # email | sms | post | phone | push | web
    Column("purpose", String(20), nullable=False),  # marketing | service | profiling
    Column("status", String(10), nullable=False),  # granted | denied | withdrawn
    Column("source", String(100), nullable=False),
    Column("proof", Json, nullable=False, default=dict),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Index("ix_consents_lookup", "customer_id", "channel", "purpose", "recorded_at"),
)

events = Table(
    "events",
    metadata,
    _id(),
    Column("event_uid", String(100), nullable=False, unique=True),  # idempotency key
    _fk("customer_id", "customers.id", nullable=True, index=False),
    Column("type", String(50), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("amount", Numeric(14, 2)),
    Column("currency", String(3)),
    Column("category", String(100)),
    Column("properties", Json, nullable=False, default=dict),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_events_customer", "customer_id", "type", "occurred_at"),
)

# --- audience ----------------------------------------------------------------------------------------

segments = Table(
    "segments",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("definition", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

segment_snapshots = Table(
    "segment_snapshots",
    metadata,
    _id(),
    _fk("segment_id", "segments.id"),
    Column("size", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

snapshot_members = Table(
    "snapshot_members",
    metadata,
    _fk("snapshot_id", "segment_snapshots.id", index=False, cascade=True),
    _fk("customer_id", "customers.id", index=False),
    Index("ix_snapshot_members_pk", "snapshot_id", "customer_id", unique=True),
)

# --- content -----------------------------------------------------------------------------------------

templates = Table(
    "templates",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

template_versions = Table(
    "template_versions",
    metadata,
    _id(),
    _fk("template_id", "templates.id", index=False),
    Column("version", Integer, nullable=False),
    Column("status", String(10), nullable=False),  # draft | approved | retired
    Column("subject", Text, nullable=False, default=""),
    Column("body", Text, nullable=False),  # the design source
    Column("definition", Json, nullable=False, default=dict),  # the whole design: slots, variants, snippets
    Column("created_at", UTCDateTime, nullable=False),
    Column("approved_at", UTCDateTime),
    Column("approved_by", String(100)),
    UniqueConstraint("template_id", "version"),
)

# Shared pieces of content (a signature, a legal paragraph) that designs include by name; every save is a
# new version, and a design version copies the text it includes, so approving a snippet changes nothing
# that is already approved (owned by epistola.content.snippets).
content_snippets = Table(
    "content_snippets",
    metadata,
    _id(),
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(100), nullable=False),
    UniqueConstraint("name", "version"),
)

# --- campaigns and the outbox ---------------------------------------------------------------------------

campaigns = Table(
    "campaigns",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("objective", Text, nullable=False, default=""),
    Column("status", String(12), nullable=False),  # draft | running | paused | finished | cancelled
    _fk("segment_id", "segments.id"),
    _fk("snapshot_id", "segment_snapshots.id", nullable=True, index=False),
    Column("control_pct", Numeric(5, 2), nullable=False, default=10),
    Column("seed", Integer, nullable=False, default=0),
    Column("budget", Numeric(14, 2)),
    Column("response_window_days", Integer, nullable=False, default=14),
    Column("topic", String(40)),  # a preference-centre topic key; its marketing skips customers who unticked it
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
)

campaign_steps = Table(
    "campaign_steps",
    metadata,
    _id(),
    _fk("campaign_id", "campaigns.id", index=False),
    Column("position", Integer, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("purpose", String(20), nullable=False, default="marketing"),
    _fk("template_version_id", "template_versions.id", index=False),
    Column("scheduled_at", UTCDateTime),
    UniqueConstraint("campaign_id", "position"),
)

campaign_members = Table(
    "campaign_members",
    metadata,
    _fk("campaign_id", "campaigns.id", index=False),
    _fk("customer_id", "customers.id", index=True),
    Column("grp", String(10), nullable=False),  # target | control
    Column("variant", String(20)),
    Index("ix_campaign_members_pk", "campaign_id", "customer_id", unique=True),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    _fk("step_id", "campaign_steps.id", index=False),
    _fk("customer_id", "customers.id"),
    Column("channel", String(10), nullable=False),
    Column("state", String(12), nullable=False),
    Column("recipient", String(320)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", UTCDateTime),
    Column("provider_id", String(200)),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("step_id", "customer_id", "channel"),
    Index("ix_messages_queue", "state", "next_attempt_at"),
    Index("ix_messages_provider", "provider_id"),  # delivery receipts find their message by the provider's id
)

tracking_links = Table(
    "tracking_links",
    metadata,
    _id(),
    Column("token", String(64), nullable=False, unique=True),
    _fk("message_id", "messages.id"),
    Column("kind", String(10), nullable=False),  # click | open
    Column("url", Text),  # recorded at send time; a redirect never goes anywhere else
    Column("created_at", UTCDateTime, nullable=False),
)

tracking_events = Table(
    "tracking_events",
    metadata,
    _id(),
    _fk("message_id", "messages.id"),
    _fk("link_id", "tracking_links.id", nullable=True, index=False),
    Column("kind", String(10), nullable=False),  # open | click
    Column("machine", Boolean, nullable=False, default=False),  # scanner / privacy proxy
    Column("occurred_at", UTCDateTime, nullable=False),
)

# --- feedback: surveys, bounces and complaints, attribution (owned by epistola.feedback) ---------------

surveys = Table(
    "surveys",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("version", Integer, nullable=False),  # bumped by every save; answers keep the one they answered
    Column("definition", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

step_surveys = Table(
    "step_surveys",
    metadata,
    _fk("step_id", "campaign_steps.id", index=False),
    _fk("survey_id", "surveys.id"),
    UniqueConstraint("step_id"),
)

survey_responses = Table(
    "survey_responses",
    metadata,
    _id(),
    _fk("survey_id", "surveys.id", index=False),
    _fk("customer_id", "customers.id"),
    _fk("message_id", "messages.id", nullable=True, index=False),  # the PURL it came through
    Column("survey_version", Integer, nullable=False),
    Column("answers", Json, nullable=False),
    Column("revision", Integer, nullable=False, default=1),  # a customer may come back and change them
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("survey_id", "customer_id"),
)

feedback_reports = Table(
    "feedback_reports",
    metadata,
    _id(),
    Column("report_uid", String(128), nullable=False, unique=True),  # the same report read twice counts once
    Column("kind", String(12), nullable=False),  # hard | soft | complaint | delayed | delivered
    Column("channel", String(10), nullable=False),
    Column("address", String(320), nullable=False, index=True),
    Column("domain", String(255), nullable=False),
    _fk("message_id", "messages.id", nullable=True),
    Column("status", String(16)),  # enhanced status code (RFC 3463), e.g. 5.1.1
    Column("diagnostic", Text),
    Column("source", String(40), nullable=False),  # maildir | imap | webhook:<provider> | smpp
    Column("reporter", String(255)),  # reporting MTA or provider
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_feedback_reports_domain", "domain", "kind", "occurred_at"),
)

domain_pauses = Table(
    "domain_pauses",
    metadata,
    _id(),
    Column("domain", String(255), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("complaints", Integer, nullable=False),
    Column("sent", Integer, nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
    Column("resumed_at", UTCDateTime),
    Column("resumed_by", String(100)),
    Index("ix_domain_pauses_domain", "domain", "resumed_at"),
)

attributions = Table(
    "attributions",
    metadata,
    _id(),
    _fk("event_id", "events.id", index=False),
    _fk("campaign_id", "campaigns.id", index=False),
    _fk("step_id", "campaign_steps.id", index=False),
    _fk("customer_id", "customers.id", index=False),
    Column("grp", String(10), nullable=False),  # target | control
    Column("attributed_at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "campaign_id"),
    Index("ix_attributions_campaign", "campaign_id", "step_id", "grp"),
)

# --- delivery: the in-app inbox (epistola.delivery.inbox) --------------------------------------------------

inbox_items = Table(
    "inbox_items",
    metadata,
    _id(),
    _fk("message_id", "messages.id", index=False),
    _fk("customer_id", "customers.id", index=False),
    Column("subject", Text, nullable=False, default=""),
    Column("body_text", Text, nullable=False, default=""),
    Column("body_html", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read_at", UTCDateTime),
    Column("deleted_at", UTCDateTime),  # the customer removed it; kept for the audit of what was sent
    UniqueConstraint("message_id"),  # delivering a message twice to the inbox is impossible
    Index("ix_inbox_items_customer", "customer_id", "created_at"),
)

# --- operations --------------------------------------------------------------------------------------

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("entity", String(50), nullable=False),
    Column("entity_id", String(100)),
    Column("details", Json, nullable=False, default=dict),
    Column("origin", String(100)),  # where from: cli, an IP address, a worker
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- privacy: suppression lists, preferences, erasures, SMS keyword replies (epistola.consent) -------

suppressions = Table(
    "suppressions",
    metadata,
    _id(),
    Column("scope", String(10), nullable=False),  # all | email | sms | post | phone | push | web
    Column("identifier_hash", String(64), nullable=False),  # keyed HMAC of the normalised address, never the address
    Column("key_version", Integer, nullable=False),
    Column("reason", String(20), nullable=False),  # hard_bounce | complaint | legal | manual | keyword
    Column("source", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("identifier_hash", "scope"),
)

customer_preferences = Table(
    "customer_preferences",
    metadata,
    Column("customer_id", BigId, ForeignKey("customers.id"), primary_key=True, autoincrement=False),
    Column("topics", Json, nullable=False, default=list),
    Column("frequency", String(10), nullable=False, default="any"),  # any | weekly | monthly
    Column("updated_at", UTCDateTime, nullable=False),
)

erasures = Table(
    "erasures",
    metadata,
    _id(),
    _fk("customer_id", "customers.id", index=False),
    Column("actor", String(100), nullable=False),
    Column("erased_at", UTCDateTime, nullable=False),
    Column("summary", Json, nullable=False, default=dict),  # rows changed per table; no personal data
    UniqueConstraint("customer_id"),
)

sms_replies = Table(
    "sms_replies",
    metadata,
    _id(),
    Column("inbound_key", String(200), nullable=False, unique=True),  # one reply per inbound message, ever
    _fk("customer_id", "customers.id", nullable=True),
    Column("recipient", String(32)),  # E.164; cleared when sent or erased
    Column("keyword", String(10), nullable=False),  # stop | start | help
    Column("language", String(5), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(10), nullable=False),  # pending | sending | sent | failed | uncertain
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),  # when claimed for sending, then when settled
    Index("ix_sms_replies_queue", "state", "id"),
)

# --- audience: model scores that segments can use (written by the insight work, read by epistola.audience) --

model_scores = Table(
    "model_scores",
    metadata,
    Column("model", String(100), nullable=False),  # e.g. churn, response_propensity
    _fk("customer_id", "customers.id", index=False, cascade=True),
    Column("score", Float, nullable=False),
    Column("scored_at", UTCDateTime, nullable=False),
    Index("ix_model_scores_pk", "model", "customer_id", unique=True),
)

# --- identity (epistola.identity): matching keys, versioned models, links, review decisions, merge history --

identity_features = Table(
    "identity_features",
    metadata,
    Column("source_record_id", BigId, ForeignKey("source_records.id", ondelete="CASCADE"), primary_key=True),
    Column("name", Text),  # the keys the matcher compares (identity.features), not the values as written
    Column("fn", Text),
    Column("fn_groups", Json, nullable=False, default=list),
    Column("ln_groups", Json, nullable=False, default=list),
    Column("fn_block", Text),
    Column("ln_block", Text),
    Column("ln", Text),
    Column("gender", String(1)),
    Column("dob", String(10)),
    Column("by_lo", Integer),
    Column("by_hi", Integer),
    Column("email", Text),
    Column("phone", String(32)),
    Column("postcode", String(20)),
    Column("pc_area", String(20)),
    Column("city", Text),
    Column("street", Text),
    Column("house", String(20)),
    Column("computed_at", UTCDateTime, nullable=False),
    Index("ix_identity_features_email", "email"),
    Index("ix_identity_features_phone", "phone"),
    Index("ix_identity_features_name", "name"),
    Index("ix_identity_features_ln", "ln", "fn_block"),
    Index("ix_identity_features_fn_block", "fn_block", "postcode"),
    # the incremental matcher's lookups for the blocking rules the indexes above serve badly or not at all
    Index("ix_identity_features_fn", "fn", "ln_block"),  # names written the other way round
    Index("ix_identity_features_street", "street", "city", "house"),  # same street (and house) in a city
    Index("ix_identity_features_dob", "dob"),  # same birth date and family name, or given name
)

identity_models = Table(
    "identity_models",
    metadata,
    _id(),
    Column("version", Integer, nullable=False, unique=True),
    Column("params", Json, nullable=False),  # prior, m and u per comparison level, and how they were trained
    Column("config", Json, nullable=False),  # thresholds, deterministic rules, survivorship rules
    Column("note", Text, nullable=False, default=""),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

identity_links = Table(
    "identity_links",
    metadata,
    _id(),
    _fk("record_l", "source_records.id", index=False, cascade=True),
    _fk("record_r", "source_records.id", cascade=True),
    Column("kind", String(10), nullable=False),  # merge (joined the two records) | review (waits for a person)
    Column("probability", Float, nullable=False),
    Column("weight", Float),  # match weight in bits; none when a rule or a person made the link
    Column("reason", String(40), nullable=False),  # model | rule:<column> | decision
    Column("model_version", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("record_l", "record_r"),
    Index("ix_identity_links_kind", "kind", "probability"),
)

identity_decisions = Table(
    "identity_decisions",
    metadata,
    _id(),
    _fk("record_l", "source_records.id", index=False, cascade=True),
    _fk("record_r", "source_records.id", cascade=True),
    Column("decision", String(10), nullable=False),  # match | no_match: overrides the model on every later run
    Column("origin", String(10), nullable=False),  # review | merge | unmerge | split
    Column("note", Text, nullable=False, default=""),
    Column("decided_by", String(100), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    UniqueConstraint("record_l", "record_r"),
)

identity_merges = Table(
    "identity_merges",
    metadata,
    _id(),
    Column("kind", String(10), nullable=False),  # merge | unmerge | split
    _fk("customer_id", "customers.id"),  # the customer that stays (merge) or that records left (unmerge, split)
    _fk("other_id", "customers.id", index=False),  # the absorbed customer (merge), restored or new (unmerge, split)
    Column("records", Json, nullable=False, default=list),  # source records that moved with `other_id`
    Column("details", Json, nullable=False, default=dict),  # why, and what moved: events, consent entries
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    _fk("undone_by", "identity_merges.id", nullable=True, index=False),
)


# --- hub: enrichment (third-party overlays, profile answers, modelled values) ---------------------------

overlay_values = Table(
    "overlay_values",
    metadata,
    _id(),
    Column("overlay", String(100), nullable=False),  # e.g. postcode_demographics
    Column("country", String(2), nullable=False),
    Column("key", String(20), nullable=False),  # what the overlay is keyed by: a postcode prefix
    Column("attributes", Json, nullable=False),  # e.g. {"median_income_band": "middle", "urbanisation": "urban"}
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("overlay", "country", "key"),
)

profile_attributes = Table(
    "profile_attributes",
    metadata,
    _fk("customer_id", "customers.id", index=False, cascade=True),
    Column("name", String(100), nullable=False),
    Column("value", Json, nullable=False),
    Column("origin", String(10), nullable=False),  # overlay | survey | stated
    Column("source", String(100), nullable=False),  # the overlay's name, or survey:<id>
    Column("observed_at", UTCDateTime, nullable=False),
    Index("ix_profile_attributes_pk", "customer_id", "name", unique=True),
)

modelled_values = Table(
    "modelled_values",
    metadata,
    _fk("customer_id", "customers.id", index=False, cascade=True),
    Column("field", String(50), nullable=False),  # gender | age_band: never a field the customer stated
    Column("value", String(50), nullable=False),
    Column("confidence", Float, nullable=False),  # the model's probability for this value
    Column("model", String(100), nullable=False),  # which model, trained when
    Column("computed_at", UTCDateTime, nullable=False),
    Index("ix_modelled_values_pk", "customer_id", "field", unique=True),
)
