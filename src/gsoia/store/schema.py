"""The node's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Items keep their label twice: as the originator wrote it (text columns, bound to the
content by a signature) and encoded for ``decide_many`` (``label_key``, ``custodian_code``,
``open_bits``, ``need_bits``; see ``gsoia.decision.labels``), so a listing never rebuilds
the table. The encoded columns depend on the catalogue; ``meta.catalogue`` records which
one they were computed for.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    literal_column,
)

metadata = MetaData()

SEQ_CEILING = literal_column("9223372036854775807", BigInteger)
"""Above every seq: the upper bound of a range read past a seq. A range with two bounds is
planned on the primary key's index by PostgreSQL whatever it knows of the table (a lower
bound alone, in a generic plan of a prepared statement or on a table never analysed, is
estimated at a third of the rows: a scan of the whole table, in parallel on a large one)."""

meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("nation", String(32), nullable=False),
    Column("clearance", String(64)),
    Column("clearance_expires", Date),
    Column("need_to_know", Text, nullable=False),  # JSON list
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),  # migration 0007
    # migration 0010: the row's version, recorded in the audit log at every change, and the
    # node's Ed25519 signature over its security fields with it (``node.signed_rows``)
    Column("version", Integer, nullable=False, server_default="1"),
    Column("signature", LargeBinary),
    # migration 0016: the security categories held, a JSON object of tag name -> category
    # names (NULL: none), signed with the row when given (``node.signed_rows``)
    Column("categories", Text),
)

sessions = Table(  # migration 0007: web sessions, checked on every request
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),  # the cookie's first half, not a secret
    Column("secret_hash", String(64), nullable=False),  # SHA-256 of the cookie's second half
    Column("user_id", String(128), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False),  # the token signed in with: ends with it
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
)
Index("sessions_user", sessions.c.user_id)
Index("sessions_expires", sessions.c.expires_at)

topics = Table(
    "topics",
    metadata,
    Column("topic", String(64), primary_key=True),
    Column("bit", Integer, nullable=False, unique=True),
)

items = Table(
    "items",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("id", String(64), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    # the label, as its originator set it
    Column("originator", String(32), nullable=False),
    Column("classification", String(64), nullable=False),
    Column("area", String(64)),
    Column("releasable_to", Text, nullable=False),  # JSON list
    Column("need_to_know", Text, nullable=False),  # JSON list
    # custody: who holds this copy, and to whom the originator consented
    Column("custodian", String(32), nullable=False),
    Column("consented_to", Text, nullable=False),  # JSON list
    # content, encrypted at rest, and the binding of label and content
    Column("ciphertext", LargeBinary, nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("content_digest", LargeBinary, nullable=False),  # SHA-384 of the ciphertext
    Column("signature", LargeBinary, nullable=False),  # Ed25519 over label + digest
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(128), nullable=False),
    # the label encoded for decide_many
    Column("label_key", Integer, nullable=False),
    Column("custodian_code", Integer, nullable=False),
    Column("open_bits", LargeBinary, nullable=False),
    Column("need_bits", LargeBinary, nullable=False),
    # received from a partner (migration 0002): from whom, in which package, the
    # custodian's own equivalent marking next to the original, the originator's consents
    Column("sender", String(32)),
    Column("package_id", String(64)),
    Column("custodian_marking", Text),
    Column("grants", Text),  # JSON list of signed consents, forwarded with a release
    # the originator's seal (migration 0004): its node's Ed25519 signature over the item
    # as the originator wrote it and the plaintext's SHA-384; travels with every copy
    Column("origin_seal", LargeBinary),
    # migration 0010: the copy's version, covered by the signature and recorded in the audit
    # log at every change (``node.versions``): an older row put back is refused
    Column("version", Integer, nullable=False, server_default="1"),
    # migration 0016: the label's security categories, a JSON object of tag name ->
    # category names (NULL: none), bound by the signature and the seal when given
    Column("categories", Text),
    # migration 0017: an item of a batch (a TAXII envelope) is signed with the batch: its
    # ``signature`` is empty and ``envelope`` names the ``item_envelopes`` row whose one
    # signature covers, at ``envelope_slot``, the digest of what its own would have
    Column("envelope", String(36)),
    Column("envelope_slot", Integer),
)
Index("items_originator", items.c.originator)

item_envelopes = Table(  # migration 0017: one signature for the items of a batch
    "item_envelopes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("digests", LargeBinary, nullable=False),  # each item's SHA-384, in slot order
    Column("signature", LargeBinary, nullable=False),  # Ed25519 over the id and digests
)

relabels = Table(  # migration 0006: each change of a stored label, for the other workers
    "relabels",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("seq", BigInteger, nullable=False),  # the item whose label changed
)

consents = Table(
    "consents",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("item_id", String(64), ForeignKey("items.id"), nullable=False),
    Column("to_party", String(32), nullable=False),
    Column("granted_by", String(128), nullable=False),
    Column("granted_at", String(32), nullable=False),
    # migration 0014: the officer's note (conditions of consent), and its withdrawal
    Column("note", Text),
    Column("withdrawn_by", String(128)),
    Column("withdrawn_at", String(32)),
)
Index("consents_item", consents.c.item_id)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("item_id", String(64), ForeignKey("items.id"), nullable=False),
    Column("kind", String(32), nullable=False),  # loss | compromise (or possible_*)
    Column("description", Text, nullable=False),
    Column("reported_by", String(128), nullable=False),
    Column("reported_at", String(32), nullable=False),
    Column("notify_by", String(32), nullable=False),
    Column("notified_at", String(32)),
    # migration 0014: reported | acknowledged | investigating | closed (``incident_steps``)
    Column("state", String(24), nullable=False, server_default="reported"),
    Column("reported_from", String(32)),  # the nation whose node told this one (None: here)
)

incident_steps = Table(  # migration 0014: each step of an incident, by an officer, noted
    "incident_steps",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("incident_id", String(64), nullable=False),
    Column("state", String(24), nullable=False),
    Column("by", String(128), nullable=False),
    Column("at", String(32), nullable=False),
    Column("note", Text),
)
Index("incident_steps_incident", incident_steps.c.incident_id)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("at", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON of the whole entry
    Column("leaf", LargeBinary, nullable=False),  # RFC 9162 leaf hash of body
    Column("root", LargeBinary, nullable=False),  # tree head after this entry
    # Ed25519 over the tree head: on the last entry of each transaction (migration 0005)
    Column("signature", LargeBinary, nullable=True),
)
# migration 0015: the audit page's filters by user, kind and day (``node.audit_search``)
Index("audit_entries_actor", audit_entries.c.actor, audit_entries.c.seq)
Index("audit_entries_kind", audit_entries.c.kind, audit_entries.c.seq)
Index("audit_entries_at", audit_entries.c.at)

# -- federation (migration 0002) ----------------------------------------------------------

peers = Table(
    "peers",
    metadata,
    Column("nation", String(32), primary_key=True),
    Column("url", Text, nullable=False),
    Column("signing_key", LargeBinary, nullable=False),  # Ed25519, raw 32 bytes
    Column("sealing_key", LargeBinary, nullable=False),  # X25519, raw 32 bytes
    Column("fingerprint", String(64), nullable=False),
    Column("added_at", String(32), nullable=False),
    # migration 0010: the pin's version, recorded in the audit log at every change, and the
    # node's Ed25519 signature over the pin with it (``node.signed_rows``)
    Column("version", Integer, nullable=False, server_default="1"),
    Column("signature", LargeBinary),
)

witnessed_heads = Table(
    "witnessed_heads",
    metadata,
    Column("nation", String(32), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("at", String(40), nullable=False),
    Column("seen_at", String(32), nullable=False),
    Column("pending", Text),  # JSON: the first head shown since that could not be checked
)
"""The latest signed tree head held of each partner's audit log (``audit.witness``), and
the first one shown since that could not be checked yet (no proof could be fetched)."""

witness_alarms = Table(
    "witness_alarms",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("nation", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("held", Text, nullable=False),  # JSON: the head held
    Column("shown", Text, nullable=False),  # JSON: the head shown
    Column("raised_at", String(32), nullable=False),
    Column("acknowledged_by", String(128)),
    Column("acknowledged_at", String(32)),
    Column("note", Text),
)
"""A partner shown to keep two histories; packages from it are refused while one is open."""
Index("witness_alarms_open", witness_alarms.c.nation, witness_alarms.c.acknowledged_at)

outbox = Table(
    "outbox",
    metadata,
    Column("package_id", String(64), primary_key=True),
    Column("peer", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("item_id", String(64)),
    Column("payload", Text, nullable=False),  # the signed package, as sent
    Column("state", String(16), nullable=False),  # pending | delivered | failed | cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(32), nullable=False),
    Column("last_error", Text),
    Column("created_at", String(32), nullable=False),
    Column("delivered_at", String(32)),
    # the process delivering it now (migration 0009): one claim at a time, across every
    # process and host of the node; after ``claimed_until`` another process may take it
    Column("claimed_by", String(64)),
    Column("claimed_until", String(32)),
)
Index("outbox_due", outbox.c.state, outbox.c.next_attempt_at)
Index("outbox_item", outbox.c.item_id)  # migration 0014: an item's custody

inbox = Table(
    "inbox",
    metadata,
    Column("package_id", String(64), primary_key=True),
    Column("sender", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("item_id", String(64)),
    Column("received_at", String(32), nullable=False),
    # a release's ``package.received`` entry (migration 0011): what its receipt proves
    Column("audit_seq", BigInteger),
)
Index("inbox_item", inbox.c.item_id)  # migration 0014: an item's custody

# -- receipts (migration 0011) -----------------------------------------------------------
# The signed receipt a partner answered a release with, verified (``audit.acknowledgement``)

acknowledgements = Table(
    "acknowledgements",
    metadata,
    Column("package_id", String(64), primary_key=True),
    Column("item_id", String(64), nullable=False),
    Column("peer", String(32), nullable=False),
    Column("seq", BigInteger, nullable=False),  # the receiver's entry the receipt proves
    Column("tree_size", BigInteger, nullable=False),  # the receiver's head it is proven in
    Column("receipt", Text, nullable=False),  # the receipt as the receiver signed it (JSON)
    Column("verified_at", String(32), nullable=False),
)
Index("acknowledgements_item", acknowledgements.c.item_id)

consent_requests = Table(
    "consent_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("item_id", String(64), nullable=False),
    Column("custodian", String(32), nullable=False),  # who asks
    Column("to_party", String(32), nullable=False),  # to whom it wants to release
    Column("requested_by", String(128), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # pending | granted | refused
    Column("decided_by", String(128)),
    Column("decided_at", String(32)),
    Column("grant", Text),  # the originator's signed consent, JSON
    Column("note", Text),  # migration 0014: the officer's note on the answer
)

consents_asked = Table(  # migration 0014: the consent requests this node sent, answered
    "consents_asked",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("item_id", String(64), nullable=False),
    Column("originator", String(32), nullable=False),  # asked
    Column("to_party", String(32), nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # pending | granted | refused
    Column("answered_at", String(32)),
    Column("note", Text),  # the originator's officer's note on the answer
)

releases = Table(
    "releases",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("item_id", String(64), nullable=False),
    Column("peer", String(32), nullable=False),
    Column("package_id", String(64), nullable=False),
    Column("released_by", String(128), nullable=False),
    Column("released_at", String(32), nullable=False),
)
Index("releases_item", releases.c.item_id)

onward_releases = Table(  # migration 0014: releases a custodian made with consent, as told
    "onward_releases",
    metadata,
    Column("package_id", String(64), primary_key=True),  # the custodian's release package
    Column("item_id", String(64), nullable=False),
    Column("custodian", String(32), nullable=False),
    Column("to_party", String(32), nullable=False),
    Column("released_by", String(128), nullable=False),
    Column("released_at", String(32), nullable=False),
    Column("received_at", String(32), nullable=False),
    # migration 0015: as the custodian tells it (``exchange.onward``): reported (released),
    # delivered, received, refused (``reason``: the third party's) or cancelled
    Column("state", String(16), nullable=False, server_default="reported"),
    Column("reason", Text),
    Column("state_at", String(32)),
)
Index("onward_releases_item", onward_releases.c.item_id)

# -- key history (migration 0004) -----------------------------------------------------------
# Keys retired by a rotation: this node's own (``nation`` = its nation; ``audit_size``: the
# audit entries whose heads this key or an older one signed) and its peers' (learnt from
# their rotation package ``package_id``). They still verify what they signed before.

retired_keys = Table(
    "retired_keys",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("nation", String(32), nullable=False),
    Column("signing_key", LargeBinary, nullable=False),  # Ed25519, raw 32 bytes
    Column("sealing_key", LargeBinary, nullable=False),  # X25519, raw 32 bytes
    Column("fingerprint", String(64), nullable=False),
    Column("retired_at", String(32), nullable=False),
    Column("audit_size", BigInteger),
    Column("package_id", String(64)),
)
Index("retired_keys_nation", retired_keys.c.nation, retired_keys.c.seq)

# -- TAXII 2.1 (migration 0003) ------------------------------------------------------------
# An item that is a STIX object has one row here: where it sits in which collection, its
# STIX id, type and version (``modified``, else ``created``, else ``date_added``: the exact
# text, and in microseconds for ordering), and when this node added it.

stix_objects = Table(
    "stix_objects",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("item_id", String(64), ForeignKey("items.id"), nullable=False, unique=True),
    Column("item_seq", BigInteger, nullable=False),
    Column("collection", String(64), nullable=False),
    Column("stix_id", String(300), nullable=False),
    Column("type", String(250), nullable=False),
    Column("spec_version", String(16), nullable=False),
    Column("version", String(64), nullable=False),
    Column("version_us", BigInteger, nullable=False),
    Column("date_added", String(32), nullable=False),  # UTC, microseconds, "Z"
    Column("added_us", BigInteger, nullable=False),
)
Index(
    "stix_objects_version",
    stix_objects.c.collection,
    stix_objects.c.stix_id,
    stix_objects.c.version,
    unique=True,
)
Index("stix_objects_added", stix_objects.c.collection, stix_objects.c.added_us, stix_objects.c.seq)
Index("stix_objects_type", stix_objects.c.collection, stix_objects.c.type)

stix_deletions = Table(  # objects removed from their collection (the item itself stays)
    "stix_deletions",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("object_seq", BigInteger, nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("deleted_by", String(128), nullable=False),
    Column("deleted_at", String(32), nullable=False),
)

taxii_status = Table(  # TAXII status resources, readable by whoever posted the envelope
    "taxii_status",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("collection", String(64), nullable=False),
    Column("request_timestamp", String(32), nullable=False),
    Column("body", Text, nullable=False),  # the status resource, JSON
)

# -- personnel security assurances and visits (migration 0013) ----------------------------
# An assurance of a person's clearance, issued here (``sender`` this node's nation) or
# received from a partner; the person's name and birth data encrypted (``personal``), erased
# a set time after the visits (``gsoia.node.visits``).

assurances = Table(
    "assurances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("sender", String(32), nullable=False),
    Column("receiver", String(32), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("personal", LargeBinary),  # encrypted JSON: name, birth data; NULL once erased
    Column("clearance", String(64), nullable=False),  # in the sender's scheme
    Column("expires", String(10), nullable=False),
    Column("need_to_know", Text, nullable=False),  # JSON list
    Column("state", String(16), nullable=False),  # valid | withdrawn
    Column("issued_by", String(160), nullable=False),
    Column("issued_at", String(32), nullable=False),
    Column("withdrawn_at", String(32)),
)

visits = Table(
    "visits",
    metadata,
    Column("id", String(64), primary_key=True),  # the same on both nodes
    Column("visitor_nation", String(32), nullable=False),
    Column("host", String(32), nullable=False),
    Column("visitors", Text, nullable=False),  # JSON list of assurance ids
    Column("purpose", Text),  # NULL once erased
    Column("place", Text),
    Column("first_day", String(10), nullable=False),
    Column("last_day", String(10), nullable=False),
    Column("areas", Text, nullable=False),  # JSON list
    Column("kind", String(16), nullable=False),  # one-time | recurring | emergency | amendment
    Column("reason", Text),
    Column("amends", String(64)),
    Column("level", String(64), nullable=False),  # asked, in the visiting party's scheme
    # requested | asked (for more) | approved | refused | cancelled | ended | amended
    Column("state", String(16), nullable=False),
    Column("note", Text),
    Column("approved_level", String(64)),
    Column("requested_by", String(160), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("decided_by", String(160)),
    Column("decided_at", String(32)),
)

visit_tokens = Table(  # the visiting node: each visitor's token, encrypted, shown once
    "visit_tokens",
    metadata,
    Column("visit_id", String(64), primary_key=True),
    Column("person_id", String(64), primary_key=True),
    Column("sealed", LargeBinary),  # NULL once shown
    Column("shown_at", String(32)),
)

visitor_accounts = Table(  # the host: the account of each visitor of an approved visit
    "visitor_accounts",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("visit_id", String(64), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("assurance_id", String(64), nullable=False),
    Column("valid_from", String(10), nullable=False),
    Column("valid_until", String(10), nullable=False),
)
Index("visitor_accounts_visit", visitor_accounts.c.visit_id)
Index("visitor_accounts_assurance", visitor_accounts.c.assurance_id)
