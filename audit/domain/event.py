"""The audit event: validation of an untrusted message and its normalization.

:func:`normalize_message` turns one Kafka message value into a
:class:`NormalizedEvent` or raises :class:`~audit.errors.EventRejected` whose
``error_type`` is one of :data:`REJECTION_TYPES` (a Prometheus label and a
dead-letter header, so the set is small and fixed) and whose message names
the field and says what is wrong.

The steps, cheapest first:

1. size (at most ``max_bytes``, 64 KiB by the contract), UTF-8, JSON, object;
2. dotted keys (``"event.id": ...``) are object paths, as in Elasticsearch:
   they are merged into the nested form, at any depth; the same path given
   twice with different values, or as both a value and an object, rejects;
3. the contract fields are validated by :class:`AuditEvent`, a strict
   pydantic schema (no coercion: ``"5"`` is not an integer, ``true`` is not a
   number). A JSON ``null`` counts as absent: fine for an optional field, a
   missing field for a required one;
4. ``@timestamp`` must be RFC 3339 with a zone and not more than 24 h ahead
   of ``received_at``;
5. normalization of the stored document: ``event.category``/``event.type``
   from the catalogue when absent, ``elastra.data_category``,
   ``event.ingested`` (``received_at`` in UTC), ``source.ip`` in canonical
   form, an upper-case ``T``/``Z`` in ``@timestamp`` (otherwise kept as
   given). ``event.ingested``, ``elastra.data_category`` and ``integrity``
   belong to the service: a producer's values are replaced (``integrity``,
   the tamper-evident chain, is removed so no producer can forge it).

Unknown extra fields stay in the document untouched (the index has
``dynamic: false``: stored, not indexed). Actions outside the catalogue are
accepted (forward compatibility).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Final, NamedTuple, NotRequired

import orjson
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic refuses typing.TypedDict before 3.12

from audit.domain.catalogue import data_category_for, lookup
from audit.domain.fields import get_path
from audit.errors import EventRejected

MAX_MESSAGE_BYTES: Final = 65536
MAX_FUTURE: Final = timedelta(hours=24)
MAX_DEPTH: Final = 32
"""Deepest object/array nesting accepted (the contract's own is 4)."""

REJECTION_TYPES: Final[frozenset[str]] = frozenset(
    {
        "empty",  # null (tombstone) or zero-length value
        "oversize",  # more than max_bytes
        "encoding",  # not UTF-8
        "json",  # not JSON
        "not_object",  # JSON, but not an object
        "conflicting_field",  # one path given twice (nested and dotted) with different values
        "missing_field",  # a required field absent or null
        "wrong_type",  # a field of the wrong JSON type
        "invalid_value",  # right type, value outside the contract
        "timestamp",  # @timestamp without zone, unparsable, or > 24 h in the future
    }
)

# Top-level names Elasticsearch refuses inside a document.
_ES_METADATA: Final = frozenset(
    {
        "_id",
        "_index",
        "_source",
        "_routing",
        "_ignored",
        "_ignored_source",
        "_seq_no",
        "_primary_term",
        "_version",
        "_doc_count",
        "_field_names",
        "_data_stream_timestamp",
        "_tier",
        "_nested_path",
        "_tsid",
        "_feature",
    }
)
_SERVICE_OWNED_DROPPED: Final = "integrity"
_MISSING: Final = object()

# ---------------------------------------------------------------------------
# field types


def _fail(error_type: str, detail: str) -> PydanticCustomError:
    # The detail goes through the context: producer text may contain braces.
    return PydanticCustomError(error_type, "{detail}", {"detail": detail})


def _show(value: Any, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", re.ASCII)


def _parse_timestamp(value: Any) -> datetime:
    if type(value) is not str:
        raise _fail("wrong_type", f"must be an RFC 3339 string, got {_json_type(value)}")
    text = value.upper() if ("t" in value or "z" in value) else value
    if _RFC3339.fullmatch(text) is None:
        if _NAIVE.fullmatch(text):
            raise _fail("timestamp", f"{_show(value)} has no time zone (add Z or an offset)")
        raise _fail("timestamp", f"{_show(value)} is not an RFC 3339 date-time")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _fail("timestamp", f"{_show(value)} is not a valid date-time") from None


def _printable(value: str) -> str:
    # Python's notion of printable (its Unicode tables): no Rust pattern says the same.
    if not value.isprintable():
        raise _fail("invalid_value", f"must contain only printable characters, got {_show(value)}")
    return value


_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)", re.ASCII
)


@lru_cache(maxsize=8192)
def _ip(value: str) -> str:
    # Cached: real traffic repeats addresses (a user, an office, a bot farm);
    # a failure raises, and lru_cache keeps no entry for it.
    if _IPV4.fullmatch(value) is not None:  # the common case, 10x cheaper than ipaddress
        return value
    try:
        if "%" in value:  # a scoped IPv6 address: Elasticsearch cannot index it
            raise ValueError(value)
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _fail(
            "invalid_value", f"must be an IPv4 or IPv6 address, got {_show(value)}"
        ) from None


# Checks that pydantic-core runs itself (Rust regex, no Python call per
# event). A mismatch is the error type "string_pattern_mismatch" with the
# pattern in its context: _PATTERN_MESSAGES turns it into our message.
_PATTERN_MESSAGES: Final[dict[str, str]] = {}


def _pattern(regex: str, message: str) -> Any:
    _PATTERN_MESSAGES[regex] = message
    return Field(pattern=regex)


def _one_of(*allowed: str) -> Any:
    return _pattern(
        "^(?:" + "|".join(re.escape(a) for a in allowed) + ")$",
        f"must be one of {', '.join(allowed)}",
    )


LONG_MAX: Final = 2**63 - 1

Timestamp = Annotated[datetime, PlainValidator(_parse_timestamp)]
EventId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]
Action = Annotated[
    str,
    Field(min_length=1, max_length=128),
    _pattern(
        r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$",
        "must be a dotted name of letters, digits, '_' and '-'",
    ),
]
Outcome = Annotated[str, _one_of("success", "failure", "unknown")]
NonEmpty = Annotated[str, Field(min_length=1)]
OrganizationId = Annotated[str, Field(min_length=1, max_length=128)]
CountryCode = Annotated[
    str,
    _pattern("^[A-Z]{2}$", "must be an ISO 3166-1 alpha-2 code (two upper-case letters)"),
]
IpAddress = Annotated[str, AfterValidator(_ip)]
MfaMethod = Annotated[str, _one_of("push", "totp", "webauthn", "sms")]
SsoProtocol = Annotated[str, _one_of("saml", "oidc")]
Count = Annotated[int, Field(ge=0, le=LONG_MAX)]
AsNumber = Annotated[int, Field(ge=0, le=2**32 - 1)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]

# ---------------------------------------------------------------------------
# the contract fields
#
# TypedDicts validated by one strict TypeAdapter, not BaseModels: pydantic
# builds a model instance per object (eight per event), which cost 5x the
# whole validation of the same fields into dicts (bench/bench_validate.py).
# The output is only read once, by _normalize; the stored document is the
# producer's own, and NormalizedEvent is the frozen, typed event.
# Extras are ignored: the stored document keeps them, not the validated copy.
# Keys that are not Python names ("@timestamp", "as", "class") use the
# functional form. Field order is validation order: the first error reported.

_STRICT: Final = ConfigDict(strict=True, extra="ignore")


@with_config(_STRICT)
class EventFields(TypedDict):
    id: EventId
    action: Action
    outcome: Outcome
    provider: NonEmpty
    reason: NotRequired[str | None]
    category: NotRequired[list[str] | None]
    type: NotRequired[list[str] | None]


@with_config(_STRICT)
class Organization(TypedDict):
    id: OrganizationId
    name: NotRequired[str | None]


@with_config(_STRICT)
class UserTarget(TypedDict):
    id: NotRequired[str | None]
    name: NotRequired[str | None]


@with_config(_STRICT)
class User(TypedDict):
    id: NotRequired[str | None]
    name: NotRequired[str | None]
    email: NotRequired[str | None]
    roles: NotRequired[list[str] | None]
    target: NotRequired[UserTarget | None]


# geo_point: Elasticsearch refuses any other key in the object.
@with_config(ConfigDict(strict=True, extra="forbid"))
class GeoLocation(TypedDict):
    lat: Latitude
    lon: Longitude


@with_config(_STRICT)
class Geo(TypedDict):
    country_iso_code: NotRequired[CountryCode | None]
    city_name: NotRequired[str | None]
    location: NotRequired[GeoLocation | None]


@with_config(_STRICT)
class AsOrganization(TypedDict):
    name: NotRequired[str | None]


@with_config(_STRICT)
class AutonomousSystem(TypedDict):
    number: NotRequired[AsNumber | None]
    organization: NotRequired[AsOrganization | None]


Source = TypedDict(
    "Source",
    {
        "ip": NotRequired[IpAddress | None],
        "geo": NotRequired[Geo | None],
        "as": NotRequired[AutonomousSystem | None],
    },
)
with_config(_STRICT)(Source)


@with_config(_STRICT)
class UserAgent(TypedDict):
    original: NotRequired[str | None]


@with_config(_STRICT)
class Ref(TypedDict):
    """An object holding only an id: session, token, api_key, device, request."""

    id: NotRequired[str | None]


@with_config(_STRICT)
class Mfa(TypedDict):
    method: NotRequired[MfaMethod | None]


@with_config(_STRICT)
class Sso(TypedDict):
    protocol: NotRequired[SsoProtocol | None]
    idp: NotRequired[str | None]


@with_config(_STRICT)
class Resource(TypedDict):
    type: NotRequired[str | None]
    id: NotRequired[str | None]
    organization_id: NotRequired[str | None]


Retention = TypedDict("Retention", {"class": str, "days_before": Count, "days_after": Count})
with_config(_STRICT)(Retention)


@with_config(_STRICT)
class Elastra(TypedDict):
    session: NotRequired[Ref | None]
    token: NotRequired[Ref | None]
    api_key: NotRequired[Ref | None]
    device: NotRequired[Ref | None]
    mfa: NotRequired[Mfa | None]
    sso: NotRequired[Sso | None]
    role: NotRequired[str | None]
    resource: NotRequired[Resource | None]
    records: NotRequired[Count | None]
    bytes: NotRequired[Count | None]
    retention: NotRequired[Retention | None]
    request: NotRequired[Ref | None]
    stage: NotRequired[str | None]


AuditEvent = TypedDict(
    "AuditEvent",
    {
        "@timestamp": Timestamp,
        "event": EventFields,
        "organization": Organization,
        "user": NotRequired[User | None],
        "source": NotRequired[Source | None],
        "user_agent": NotRequired[UserAgent | None],
        "elastra": NotRequired[Elastra | None],
    },
)
"""The contract fields of an event (EVENTS.md, v1), strictly typed."""
with_config(_STRICT)(AuditEvent)

_CONTRACT: Final = TypeAdapter(AuditEvent)


def validate_fields(document: dict[str, Any]) -> AuditEvent:
    """The contract fields of ``document`` validated (a new dict, extras left out).

    Raises pydantic's ``ValidationError``; :func:`normalize_message` turns it
    into an :class:`~audit.errors.EventRejected`.
    """
    return _CONTRACT.validate_python(document)


# ---------------------------------------------------------------------------
# the result


class NormalizedEvent(NamedTuple):
    """An accepted event, ready to store and to evaluate.

    ``document`` is what is stored: the producer's fields, nested (ECS
    objects), unknown extras kept, plus what normalization adds
    (``event.category``/``event.type`` when absent, ``elastra.data_category``,
    ``event.ingested``). ``timestamp`` is ``@timestamp`` as an aware UTC
    datetime. A NamedTuple, not a frozen dataclass: one is made per event,
    and a frozen dataclass's ``__init__`` costs about three times as much.
    """

    event_id: str
    organization_id: str
    action: str
    outcome: str
    timestamp: datetime
    data_category: str
    document: dict[str, Any]

    def get(self, path: str, default: Any = None) -> Any:
        """The document's value at a dotted path ("source.ip"), or ``default``."""
        return get_path(self.document, path, default)


# ---------------------------------------------------------------------------
# entry points


def normalize_message(
    value: bytes | None, *, received_at: datetime, max_bytes: int = MAX_MESSAGE_BYTES
) -> NormalizedEvent:
    """Validate and normalize one message value; raise EventRejected if unacceptable.

    ``received_at`` (aware) is the receiving clock: it bounds ``@timestamp``
    and becomes ``event.ingested``.
    """
    if not value:
        raise _rejected("empty", "the message has no value (null or zero bytes)")
    size = len(value)
    if size > max_bytes:
        raise _rejected(
            "oversize", f"the message is {size} bytes; at most {max_bytes} bytes are accepted"
        )
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise _decode_error(value, exc) from None
    return _validate(parsed, received_at, expand=not _plain_keys(value))


def normalize_document(document: Any, *, received_at: datetime) -> NormalizedEvent:
    """Validate and normalize an already parsed JSON value.

    Takes ownership of ``document``: it is modified in place and becomes
    ``NormalizedEvent.document``.
    """
    return _validate(document, received_at, expand=True)


# Characters for which str.isspace() is true and that JSON allows unescaped
# in a string (the C0 controls must be escaped): a key made only of them is
# blank. tests/unit/test_event_fast_path.py checks the list against Python.
BLANK_KEY_CHARS: Final = (
    " \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
# A string opening with one of these bytes may be a blank (or empty) key:
# '"', a space, or the first byte of a blank's UTF-8 form (a superset:
# values opening so are rare, and only send the message down the walk).
_BLANK_OPENING: Final = re.compile(
    b'"[' + re.escape(bytes(sorted({ord('"'), *(c.encode()[0] for c in BLANK_KEY_CHARS)}))) + b"]"
)
# A dot, then the rest of a string, then a colon: a dotted key (a value may
# match too, e.g. '"1.5":' inside a string: then the walk runs, no harm).
# UTF-8 never has the bytes of '"' or '.' inside a multi-byte character.
_DOTTED_KEY: Final = re.compile(rb'\.[^"]*"\s*:')


def _plain_keys(value: bytes) -> bool:
    """True when the walk of :func:`_expand` provably has nothing to do.

    Checked on the bytes, cheaper than walking every object: no escape (so
    every key is visible as typed), no string opening with a blank, fewer
    brackets than the depth limit, no dotted key. Anything else takes the walk.
    """
    return (
        b"\\" not in value
        and value.count(b"{") + value.count(b"[") < MAX_DEPTH
        and _BLANK_OPENING.search(value) is None
        and _DOTTED_KEY.search(value) is None
    )


def _validate(document: Any, received_at: datetime, *, expand: bool) -> NormalizedEvent:
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be a timezone-aware datetime")
    if type(document) is not dict:
        raise _rejected(
            "not_object", f"the message must be a JSON object, got {_json_type(document)}"
        )
    if expand:
        _expand(document, "", 1)
    if not _ES_METADATA.isdisjoint(document):
        name = sorted(_ES_METADATA.intersection(document))[0]
        raise _rejected("invalid_value", f"{name} is a field name reserved by Elasticsearch")
    try:
        fields = _CONTRACT.validate_python(document)
    except ValidationError as exc:
        raise _rejection(exc) from None

    timestamp = fields["@timestamp"].astimezone(UTC)
    if timestamp - received_at > MAX_FUTURE:
        raise _rejected(
            "timestamp",
            f"@timestamp {_show(document['@timestamp'])} is more than 24 h ahead of the "
            f"receiving clock ({_format_utc(received_at)})",
        )
    return _normalize(document, fields, timestamp, received_at)


def _normalize(
    document: dict[str, Any], fields: AuditEvent, timestamp: datetime, received_at: datetime
) -> NormalizedEvent:
    raw_ts = document["@timestamp"]
    if "t" in raw_ts or "z" in raw_ts:
        document["@timestamp"] = raw_ts.upper()
    document.pop(_SERVICE_OWNED_DROPPED, None)

    event = fields["event"]
    action = event["action"]
    event_doc: dict[str, Any] = document["event"]
    spec = lookup(action)
    if spec is not None:
        if event.get("category") is None:
            event_doc["category"] = list(spec.categories)
        if event.get("type") is None:
            event_doc["type"] = list(spec.types)
    event_doc["ingested"] = _format_utc(received_at)

    source = fields.get("source")
    if source is not None:
        ip = source.get("ip")
        if ip is not None and document["source"]["ip"] != ip:
            document["source"]["ip"] = ip

    elastra = fields.get("elastra")
    resource_type = None
    if elastra is not None:
        resource = elastra.get("resource")
        if resource is not None:
            resource_type = resource.get("type")
    data_category = data_category_for(action, resource_type).value
    elastra_doc = document.get("elastra")
    if elastra_doc is None:
        document["elastra"] = elastra_doc = {}
    elastra_doc["data_category"] = data_category

    return NormalizedEvent(
        event_id=event["id"],
        organization_id=fields["organization"]["id"],
        action=action,
        outcome=event["outcome"],
        timestamp=timestamp,
        data_category=data_category,
        document=document,
    )


@lru_cache(maxsize=16)
def _format_utc(moment: datetime) -> str:
    # A batch shares one received_at: formatting it once per batch is enough.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------
# dotted keys


def _expand(node: dict[str, Any], path: str, depth: int) -> None:
    """Merge dotted keys of ``node`` (and below) into nested objects, in place."""
    if depth > MAX_DEPTH:
        raise _rejected("invalid_value", f"{path} nests deeper than {MAX_DEPTH} levels")
    dotted: list[str] | None = None
    for key, value in node.items():
        kind = type(value)
        if kind is dict:
            _expand(value, f"{path}.{key}" if path else key, depth + 1)
        elif kind is list:
            _expand_list(value, f"{path}.{key}" if path else key, depth + 1)
        if "." in key:
            if dotted is None:
                dotted = []
            dotted.append(key)
        elif not key or key.isspace():
            raise _rejected("invalid_value", f"{path or 'the event'} has an empty field name")
    if dotted is not None:
        for key in dotted:
            _place(node, key, node.pop(key), path, depth)


def _expand_list(items: list[Any], path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _rejected("invalid_value", f"{path} nests deeper than {MAX_DEPTH} levels")
    for index, item in enumerate(items):
        if type(item) is dict:
            _expand(item, f"{path}[{index}]", depth + 1)
        elif type(item) is list:
            _expand_list(item, f"{path}[{index}]", depth + 1)


def _place(node: dict[str, Any], key: str, value: Any, path: str, depth: int) -> None:
    full = f"{path}.{key}" if path else key
    parts = key.split(".")
    if any(not part or part.isspace() for part in parts):
        raise _rejected("invalid_value", f"field name {_show(full)} has an empty segment")
    if depth + len(parts) - 1 > MAX_DEPTH:
        raise _rejected("invalid_value", f"{full} nests deeper than {MAX_DEPTH} levels")
    prefix = path
    for part in parts[:-1]:
        prefix = f"{prefix}.{part}" if prefix else part
        child = node.get(part, _MISSING)
        if child is _MISSING or child is None:  # null counts as absent
            node[part] = child = {}
        elif type(child) is not dict:
            raise _rejected(
                "conflicting_field", f"{prefix} is given both as a value and as an object"
            )
        node = child
    _merge(node, parts[-1], value, full)


def _merge(node: dict[str, Any], key: str, value: Any, path: str) -> None:
    existing = node.get(key, _MISSING)
    if existing is _MISSING or existing is None:  # null counts as absent
        node[key] = value
    elif value is None:
        return
    elif type(existing) is dict and type(value) is dict:
        for sub_key, sub_value in value.items():
            _merge(existing, sub_key, sub_value, f"{path}.{sub_key}")
    elif orjson.dumps(existing) != orjson.dumps(value):
        raise _rejected(
            "conflicting_field",
            f"{path} is given twice (nested and dotted) with different values",
        )


# ---------------------------------------------------------------------------
# error messages


_MAX_MESSAGE_CHARS: Final = 300


def _rejected(error_type: str, message: str) -> EventRejected:
    # Field names come from the producer too: bound what goes into a header.
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[: _MAX_MESSAGE_CHARS - 3] + "..."
    return EventRejected(error_type, message)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _decode_error(value: bytes, exc: orjson.JSONDecodeError) -> EventRejected:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as bad:
        return _rejected("encoding", f"the message is not valid UTF-8 at byte {bad.start}")
    return _rejected("json", f"the message is not valid JSON: {exc}")


_EXPECTED: Final = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}
_REQUIRED_INSIDE: Final = {
    "event": "event.id, event.action, event.outcome, event.provider",
    "organization": "organization.id",
    "elastra.retention": "class, days_before, days_after",
}


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


def _rejection(exc: ValidationError) -> EventRejected:
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    path = _dotted(first["loc"])
    given = first.get("input")
    ctx = first.get("ctx") or {}
    if kind == "missing" or (given is None and (kind in _EXPECTED or kind == "wrong_type")):
        error_type = "missing_field"
        text = f"required field {path} is {'missing' if kind == 'missing' else 'null'}"
        if path in _REQUIRED_INSIDE:
            text += f" (it must hold {_REQUIRED_INSIDE[path]})"
    elif kind in REJECTION_TYPES:
        error_type, text = kind, f"{path} {ctx.get('detail', first['msg'])}"
    elif kind in _EXPECTED:
        error_type = "wrong_type"
        text = f"{path} must be {_EXPECTED[kind]}, got {_json_type(given)}"
    else:
        error_type = "invalid_value"
        if kind == "string_too_short":
            text = f"{path} must not be empty"
        elif kind == "string_too_long":
            text = f"{path} must have at most {ctx['max_length']} characters, got {len(given)}"
        elif kind == "greater_than_equal":
            text = f"{path} must be >= {ctx['ge']}, got {_show(given)}"
        elif kind == "less_than_equal":
            text = f"{path} must be <= {ctx['le']}, got {_show(given)}"
        elif kind == "extra_forbidden":
            text = f"{path} is not allowed here"
        elif kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_MESSAGES:
            text = f"{path} {_PATTERN_MESSAGES[ctx['pattern']]}, got {_show(given)}"
        else:
            text = f"{path}: {first['msg']}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return _rejected(error_type, text)
