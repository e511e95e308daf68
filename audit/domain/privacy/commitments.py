"""Keyed commitments to personal values (chain link version 2).

A version-2 link hashes the event with its personal fields taken out and,
in their place, one commitment per field::

    commitment = HMAC-SHA256(subject_key, "v2" 0x00 event.id 0x00 path 0x00 canonical(value))

in lower-case hex. The key is the subject's own (one per data subject, kept
encrypted in a key store), so destroying it leaves commitments that can no
longer be tested against guesses (an IPv4 address has only 2^32 values: a
plain hash of it could be reversed by anyone). The event id and the path
are bound in, so one value gives different commitments in different events
and fields: the stored commitments link nothing together.

``source.ip`` gets a second commitment, to its truncation (/24 for IPv4,
/48 for IPv6), so that ageing may later replace the address by its prefix
and the stored value still checks.

Pure: the keys are passed in.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any, Final

import orjson

from audit.domain.integrity.canonical import canonical_json
from audit.domain.privacy.fields import PERSONAL_FIELDS, Subject, personal_values

TRUNCATED_SUFFIX: Final = "#truncated"
TRUNCATABLE: Final = frozenset({"source.ip"})


def truncate_ip(value: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network address of ``value``, or ``None``
    when it is no IP address."""
    parts = value.split(".")
    if len(parts) == 4 and all(
        p.isascii() and p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts
    ):
        # The stored form is canonical (normalization): no leading zeros.
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0"
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def commit(key: bytes, event_id: str, path: str, value: Any) -> str:
    message = b"v2\x00" + event_id.encode() + b"\x00" + path.encode() + b"\x00"
    return hmac.digest(key, message + canonical_json(value), "sha256").hex()


def commitments_for(
    document: Mapping[str, Any], event_id: str, keys: Mapping[Subject, bytes]
) -> dict[str, str]:
    """The commitment of every personal value of ``document``, by path (plus
    ``source.ip#truncated``). ``keys`` must hold the key of every subject the
    present fields belong to."""
    return commit_values(personal_values(document), event_id, keys)


def commit_values(
    values: Mapping[str, Any], event_id: str, keys: Mapping[Subject, bytes]
) -> dict[str, str]:
    """``commitments_for`` over values already read (``personal_values``).

    Same MACs as ``commit``, computed from one HMAC state per subject that
    has absorbed the common prefix (``"v2" 0 event.id 0``) and is copied for
    each field: the key schedule is paid once per event and subject."""
    prefix = b"v2\x00" + event_id.encode() + b"\x00"
    bases: dict[Subject, hmac.HMAC] = {}
    out: dict[str, str] = {}
    for path, value in values.items():
        subject = PERSONAL_FIELDS[path]
        base = bases.get(subject)
        if base is None:
            base = bases[subject] = hmac.new(keys[subject], prefix, "sha256")
        mac = base.copy()
        mac.update(path.encode() + b"\x00" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        out[path] = mac.hexdigest()
        if path in TRUNCATABLE and isinstance(value, str):
            truncated = truncate_ip(value)
            if truncated is not None:
                mac = base.copy()
                mac.update((path + TRUNCATED_SUFFIX).encode() + b"\x00" + orjson.dumps(truncated))
                out[path + TRUNCATED_SUFFIX] = mac.hexdigest()
    return out


def matches(
    key: bytes, event_id: str, path: str, value: Any, commitments: Mapping[str, str]
) -> bool:
    """Whether a stored ``value`` is the committed one, or its committed truncation."""
    expected = commitments.get(path)
    if expected is not None and hmac.compare_digest(commit(key, event_id, path, value), expected):
        return True
    aged = commitments.get(path + TRUNCATED_SUFFIX)
    return aged is not None and hmac.compare_digest(
        commit(key, event_id, path + TRUNCATED_SUFFIX, value), aged
    )
