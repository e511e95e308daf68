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
3. the contract fields are validated by :class:`AuditEvent`, a strict frozen
   pydantic model (no coercion: ``"5"`` is not an integer, ``true`` is not a
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Final

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

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
    if not value.isprintable():
        raise _fail("invalid_value", f"must contain only printable characters, got {_show(value)}")
    return value


_ACTION = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def _dotted_name(value: str) -> str:
    if _ACTION.fullmatch(value) is None:
        raise _fail(
            "invalid_value",
            f"must be a dotted name of letters, digits, '_' and '-', got {_show(value)}",
        )
    return value


def _one_of(*allowed: str) -> Callable[[str], str]:
    members = frozenset(allowed)
    listing = ", ".join(allowed)

    def check(value: str) -> str:
        if value not in members:
            raise _fail("invalid_value", f"must be one of {listing}, got {_show(value)}")
        return value

    return check


def _country(value: str) -> str:
    if not (len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()):
        raise _fail(
            "invalid_value",
            f"must be an ISO 3166-1 alpha-2 code (two upper-case letters), got {_show(value)}",
        )
    return value


_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)", re.ASCII
)


def _ip(value: str) -> str:
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


LONG_MAX: Final = 2**63 - 1

Timestamp = Annotated[datetime, PlainValidator(_parse_timestamp)]
EventId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]
Action = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_dotted_name)]
Outcome = Annotated[str, AfterValidator(_one_of("success", "failure", "unknown"))]
NonEmpty = Annotated[str, Field(min_length=1)]
OrganizationId = Annotated[str, Field(min_length=1, max_length=128)]
CountryCode = Annotated[str, AfterValidator(_country)]
IpAddress = Annotated[str, AfterValidator(_ip)]
MfaMethod = Annotated[str, AfterValidator(_one_of("push", "totp", "webauthn", "sms"))]
SsoProtocol = Annotated[str, AfterValidator(_one_of("saml", "oidc"))]
Count = Annotated[int, Field(ge=0, le=LONG_MAX)]
AsNumber = Annotated[int, Field(ge=0, le=2**32 - 1)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]

# ---------------------------------------------------------------------------
# the model of the contract fields


class _Node(BaseModel):
    # Extras are ignored here: the stored document keeps them, not the model.
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class EventFields(_Node):
    id: EventId
    action: Action
    outcome: Outcome
    provider: NonEmpty
    reason: str | None = None
    category: list[str] | None = None
    type: list[str] | None = None


class Organization(_Node):
    id: OrganizationId
    name: str | None = None


class UserTarget(_Node):
    id: str | None = None
    name: str | None = None


class User(_Node):
    id: str | None = None
    name: str | None = None
    email: str | None = None
    roles: list[str] | None = None
    target: UserTarget | None = None


class GeoLocation(_Node):
    # geo_point: Elasticsearch refuses any other key in the object.
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    lat: Latitude
    lon: Longitude


class Geo(_Node):
    country_iso_code: CountryCode | None = None
    city_name: str | None = None
    location: GeoLocation | None = None


class AsOrganization(_Node):
    name: str | None = None


class AutonomousSystem(_Node):
    number: AsNumber | None = None
    organization: AsOrganization | None = None


class Source(_Node):
    ip: IpAddress | None = None
    geo: Geo | None = None
    as_: AutonomousSystem | None = Field(default=None, alias="as")


class UserAgent(_Node):
    original: str | None = None


class Ref(_Node):
    """An object holding only an id: session, token, api_key, device, request."""

    id: str | None = None


class Mfa(_Node):
    method: MfaMethod | None = None


class Sso(_Node):
    protocol: SsoProtocol | None = None
    idp: str | None = None


class Resource(_Node):
    type: str | None = None
    id: str | None = None
    organization_id: str | None = None


class Retention(_Node):
    class_: str = Field(alias="class")
    days_before: Count
    days_after: Count


class Elastra(_Node):
    session: Ref | None = None
    token: Ref | None = None
    api_key: Ref | None = None
    device: Ref | None = None
    mfa: Mfa | None = None
    sso: Sso | None = None
    role: str | None = None
    resource: Resource | None = None
    records: Count | None = None
    bytes_: Count | None = Field(default=None, alias="bytes")
    retention: Retention | None = None
    request: Ref | None = None
    stage: str | None = None


class AuditEvent(_Node):
    """The contract fields of an event (EVENTS.md, v1), strictly typed."""

    timestamp: Timestamp = Field(alias="@timestamp")
    event: EventFields
    organization: Organization
    user: User | None = None
    source: Source | None = None
    user_agent: UserAgent | None = None
    elastra: Elastra | None = None


# ---------------------------------------------------------------------------
# the result


@dataclass(frozen=True, slots=True)
class NormalizedEvent:
    """An accepted event, ready to store and to evaluate.

    ``document`` is what is stored: the producer's fields, nested (ECS
    objects), unknown extras kept, plus what normalization adds
    (``event.category``/``event.type`` when absent, ``elastra.data_category``,
    ``event.ingested``). ``timestamp`` is ``@timestamp`` as an aware UTC
    datetime.
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
        model = AuditEvent.model_validate(document)
    except ValidationError as exc:
        raise _rejection(exc) from None

    timestamp = model.timestamp.astimezone(UTC)
    if timestamp - received_at > MAX_FUTURE:
        raise _rejected(
            "timestamp",
            f"@timestamp {_show(document['@timestamp'])} is more than 24 h ahead of the "
            f"receiving clock ({_format_utc(received_at)})",
        )
    return _normalize(document, model, timestamp, received_at)


def _normalize(
    document: dict[str, Any], model: AuditEvent, timestamp: datetime, received_at: datetime
) -> NormalizedEvent:
    raw_ts = document["@timestamp"]
    if "t" in raw_ts or "z" in raw_ts:
        document["@timestamp"] = raw_ts.upper()
    document.pop(_SERVICE_OWNED_DROPPED, None)

    fields = model.event
    event_doc: dict[str, Any] = document["event"]
    spec = lookup(fields.action)
    if spec is not None:
        if fields.category is None:
            event_doc["category"] = list(spec.categories)
        if fields.type is None:
            event_doc["type"] = list(spec.types)
    event_doc["ingested"] = _format_utc(received_at)

    source = model.source
    if source is not None and source.ip is not None and document["source"]["ip"] != source.ip:
        document["source"]["ip"] = source.ip

    elastra = model.elastra
    resource_type = None
    if elastra is not None and elastra.resource is not None:
        resource_type = elastra.resource.type
    data_category = data_category_for(fields.action, resource_type).value
    elastra_doc = document.get("elastra")
    if elastra_doc is None:
        document["elastra"] = elastra_doc = {}
    elastra_doc["data_category"] = data_category

    return NormalizedEvent(
        event_id=fields.id,
        organization_id=model.organization.id,
        action=fields.action,
        outcome=fields.outcome,
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
        else:
            text = f"{path}: {first['msg']}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return _rejected(error_type, text)
