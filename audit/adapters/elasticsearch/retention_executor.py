"""Retention on Elasticsearch with core APIs only (no ILM, _reindex or _delete_by_query).

Implements :class:`audit.services.ports.retention.RetentionCluster`.

* observe: index settings (blocks, replicas, tier preference), the largest
  segment count of a primary shard (``indices.segments``), and for hold
  indices the ``_meta`` recording the longest class and newest day copied in;
* steps: blocks with ``indices.add_block`` (lifted by setting
  ``index.blocks.read_only: false``), ``indices.forcemerge``, settings;
* ``copy_held``: point-in-time + search_after over the hold query, bulk
  ``create`` with the same ``_id`` into the hold index (whose template is
  the events mapping, so the integrity fields are kept), then verification
  by ``_id`` before the delete step may run.

Behaviour of the 8.19 node this relies on (checked on the test node):
force-merge and settings updates work under a write block and are refused
(403) under ``read_only``; deleting an index under ``read_only`` is refused;
search and point-in-time work under both; wildcard deletes are refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from audit.adapters.elasticsearch.client import is_unavailable
from audit.adapters.elasticsearch.event_store import load_mapping
from audit.adapters.elasticsearch.versioned import unavailable
from audit.domain.retention import (
    HOLDS_PREFIX,
    IndexState,
    RetentionPolicy,
    Step,
    StepKind,
    parse_hold_index_name,
    parse_index_name,
)
from audit.domain.retention.indices import EVENTS_PREFIX
from audit.errors import StoreUnavailable
from audit.services.ports.retention import (
    CopyReport,
    HeldSource,
    HoldCopyNotVerified,
    RetentionStepFailed,
)

PAGE = 1000
KEEP_ALIVE = "2m"
MERGE_TIMEOUT_SECONDS = 3600.0
UNKNOWN_NEWEST_DAY = date(9999, 1, 1)
_TIER = "index.routing.allocation.include._tier_preference"
_BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"


@dataclass(frozen=True, slots=True)
class IndexNames:
    """Maps the deployment's index names to the domain's and back.

    ``<events_prefix>-<class>-<day>`` is ``audit-events-<class>-<day>`` and
    ``<holds_prefix>-<id>`` is ``audit-holds-<id>`` to the domain.
    """

    events_prefix: str = "audit-events"
    holds_prefix: str = "audit-holds"

    def to_domain(self, name: str) -> str | None:
        for real, domain in (
            (self.events_prefix + "-", EVENTS_PREFIX),
            (self.holds_prefix + "-", HOLDS_PREFIX),
        ):
            if name.startswith(real):
                candidate = domain + name[len(real) :]
                if parse_index_name(candidate) or parse_hold_index_name(candidate):
                    return candidate
        return None

    def to_real(self, name: str) -> str:
        if name.startswith(EVENTS_PREFIX):
            return self.events_prefix + "-" + name[len(EVENTS_PREFIX) :]
        if name.startswith(HOLDS_PREFIX):
            return self.holds_prefix + "-" + name[len(HOLDS_PREFIX) :]
        raise ValueError(f"{name} is not a retention-managed index name")

    @property
    def patterns(self) -> str:
        return f"{self.events_prefix}-*,{self.holds_prefix}-*"


def _step_error(err: Exception, what: str) -> Exception:
    """StoreUnavailable when worth retrying, else the refusal as RetentionStepFailed."""
    if is_unavailable(err):
        return StoreUnavailable(f"{what}: {err}")
    return RetentionStepFailed(f"{what}: {err}")


def _flag(settings: dict[str, Any], key: str) -> bool:
    return str(settings.get(key, "false")).lower() == "true"


class ElasticsearchRetentionCluster:
    def __init__(self, client: Elasticsearch, names: IndexNames, policy: RetentionPolicy) -> None:
        self._client = client
        self.names = names
        self._policy = policy

    # --- setup ---------------------------------------------------------------

    def ensure_hold_template(self) -> None:
        """Hold indices get the events mapping (integrity fields kept), no read alias."""
        body = load_mapping("audit-events")
        body["index_patterns"] = [f"{self.names.holds_prefix}-*"]
        body["template"].pop("aliases", None)
        body["_meta"] = {**body.get("_meta", {}), "description": "legal hold copies"}
        try:
            self._client.indices.put_index_template(name=self.names.holds_prefix, **body)
        except (ApiError, TransportError) as err:
            raise unavailable(err, "cannot install the hold index template") from err

    # --- observation ---------------------------------------------------------

    def observe(self) -> list[IndexState]:
        patterns = self.names.patterns
        try:
            settings = self._client.indices.get_settings(
                index=patterns, flat_settings=True, allow_no_indices=True, expand_wildcards="open"
            ).body
            if not settings:
                return []
            segments = self._client.indices.segments(
                index=patterns, allow_no_indices=True, expand_wildcards="open"
            ).body
            holds = self._client.indices.get_mapping(
                index=f"{self.names.holds_prefix}-*", allow_no_indices=True
            ).body
        except (ApiError, TransportError) as err:
            raise unavailable(err, "cannot observe the indices") from err
        states = []
        for real, body in settings.items():
            domain = self.names.to_domain(real)
            if domain is None:
                continue
            observed = self._observed(body["settings"], segments.get("indices", {}).get(real, {}))
            if parse_index_name(domain) is not None:
                states.append(IndexState.event_index(domain, **observed))
            else:
                meta = holds.get(real, {}).get("mappings", {}).get("_meta", {})
                states.append(IndexState(name=domain, **self._hold_meta(meta), **observed))
        return states

    @staticmethod
    def _observed(settings: dict[str, Any], segments: dict[str, Any]) -> dict[str, Any]:
        per_shard = [
            len(copy.get("segments", {}))
            for copies in segments.get("shards", {}).values()
            for copy in copies
            if copy.get("routing", {}).get("primary")
        ]
        return {
            "write_block": _flag(settings, "index.blocks.write"),
            "read_only": _flag(settings, "index.blocks.read_only"),
            "replicas": int(settings.get("index.number_of_replicas", 1)),
            "segments": max(per_shard, default=0),
            "tier_preference": settings.get(_TIER),
        }

    def _hold_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        retention = meta.get("retention") or {}
        try:
            return {
                "retention_class": str(retention["class"]),
                "day": date.fromisoformat(retention["newest_day"]),
            }
        except (KeyError, TypeError, ValueError):
            # No record of what was copied: keep it as long as the longest class
            # would keep anything copied today (never deleted early).
            longest = max(self._policy.classes.items(), key=lambda kv: kv[1].delete_after_days)
            return {"retention_class": longest[0], "day": UNKNOWN_NEWEST_DAY}

    # --- steps ---------------------------------------------------------------

    def apply_step(self, step: Step, source: HeldSource | None = None) -> CopyReport | None:
        index = self.names.to_real(step.index)
        try:
            match step.kind:
                case StepKind.REMOVE_READ_ONLY:
                    self.set_block(step.index, "read_only", present=False)
                case StepKind.ADD_READ_ONLY:
                    self.set_block(step.index, "read_only", present=True)
                case StepKind.ADD_WRITE_BLOCK:
                    self.set_block(step.index, "write", present=True)
                case StepKind.FORCE_MERGE:
                    self.force_merge(step.index, step.segments or 1)
                case StepKind.SET_REPLICAS:
                    self._put(index, {"index.number_of_replicas": step.replicas})
                case StepKind.SET_TIER_PREFERENCE:
                    self._put(index, {_TIER: step.tier_preference})
                case StepKind.COPY_HELD:
                    assert step.target is not None and step.query is not None
                    if source is None:
                        raise ValueError("copy_held needs the source's class and day")
                    return self.copy_held(
                        index, self.names.to_real(step.target), step.query, source
                    )
                case StepKind.DELETE_INDEX:
                    with contextlib.suppress(NotFoundError):  # deleted by an earlier run
                        self._client.indices.delete(index=index)
        except (ApiError, TransportError) as err:
            if is_unavailable(err):
                raise StoreUnavailable(f"{step.kind.value} on {index}: {err}") from err
            raise RetentionStepFailed(f"{step.kind.value} on {index}: {err}") from err
        return None

    def _put(self, index: str, settings: dict[str, Any]) -> None:
        self._client.indices.put_settings(index=index, settings=settings)

    def set_block(self, index: str, block: str, present: bool) -> None:
        real = self.names.to_real(index)
        if block not in ("read_only", "write"):
            raise ValueError(f"unknown block {block!r}")
        try:
            if present:
                self._client.indices.add_block(index=real, block=block)
            else:
                self._put(real, {f"index.blocks.{block}": False})
        except (ApiError, TransportError) as err:
            # Called directly by the erasure service too: answer the port's errors,
            # not the client's, so its failures are counted and explained.
            raise _step_error(err, f"{'add' if present else 'remove'} {block} on {real}") from err

    def force_merge(self, index: str, segments: int) -> None:
        real = self.names.to_real(index)
        try:
            self._client.options(request_timeout=MERGE_TIMEOUT_SECONDS).indices.forcemerge(
                index=real, max_num_segments=segments
            )
        except (ApiError, TransportError) as err:
            raise _step_error(err, f"force_merge on {real}") from err

    # --- copies and deletions by query ---------------------------------------

    def walk(
        self, index: str, query: dict[str, Any], source: bool
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of hits selected by ``query`` in a point-in-time view of ``index``."""
        pit = self._client.open_point_in_time(index=index, keep_alive=KEEP_ALIVE)["id"]
        after: list[Any] | None = None
        try:
            while True:
                extra: dict[str, Any] = {"search_after": after} if after is not None else {}
                response = self._client.search(
                    pit={"id": pit, "keep_alive": KEEP_ALIVE},
                    query=query,
                    sort=[{"_shard_doc": "asc"}],
                    size=PAGE,
                    source=source,
                    track_total_hits=False,
                    **extra,
                )
                pit = response.get("pit_id", pit)
                hits: list[dict[str, Any]] = response["hits"]["hits"]
                if hits:
                    yield hits
                if len(hits) < PAGE:
                    return
                after = hits[-1]["sort"]
        finally:
            with contextlib.suppress(ApiError, TransportError):  # it expires by itself
                self._client.close_point_in_time(id=pit)

    def _bulk(self, operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not operations:
            return []
        response = self._client.bulk(operations=operations, filter_path=_BULK_FILTER)
        items: list[dict[str, Any]] = [next(iter(item.values())) for item in response["items"]]
        return items

    def copy_held(
        self, source: str, target: str, query: dict[str, Any], held: HeldSource
    ) -> CopyReport:
        self._record_source(target, held)
        ids: list[str] = []
        created = already = 0
        for hits in self.walk(source, query, source=True):
            operations: list[dict[str, Any]] = []
            for hit in hits:
                ids.append(hit["_id"])
                operations.append({"create": {"_index": target, "_id": hit["_id"]}})
                operations.append(hit["_source"])
            for item in self._bulk(operations):
                status = int(item["status"])
                if status in (200, 201):
                    created += 1
                elif status == 409:
                    already += 1
        self._client.indices.refresh(index=target)
        verified = sum(
            int(
                self._client.count(index=target, query={"ids": {"values": ids[i : i + PAGE]}})[
                    "count"
                ]
            )
            for i in range(0, len(ids), PAGE)
        )
        selected = int(self._client.count(index=source, query=query)["count"])
        report = CopyReport(selected, created, already, verified)
        if not (selected == len(ids) == verified):
            raise HoldCopyNotVerified(
                f"{source} -> {target}: {selected} selected, {len(ids)} read, "
                f"{verified} found in the hold index; not deleting"
            )
        return report

    def _record_source(self, target: str, held: HeldSource) -> None:
        """Create the hold index if needed and widen its ``_meta`` (class, newest day)
        before copying, so it never under-states what it contains."""
        try:
            self._client.indices.create(index=target)
        except ApiError as err:
            if err.error != "resource_already_exists_exception":
                raise
        mapping = self._client.indices.get_mapping(index=target).body
        meta: dict[str, Any] = dict(mapping[target]["mappings"].get("_meta", {}))
        current = meta.get("retention") or {}
        classes = self._policy.classes
        retention_class = held.retention_class
        old_class = current.get("class")
        if old_class in classes and (
            retention_class not in classes
            or classes[old_class].delete_after_days > classes[retention_class].delete_after_days
        ):
            retention_class = old_class
        newest = held.day
        if current.get("newest_day"):
            newest = max(newest, date.fromisoformat(current["newest_day"]))
        wanted = {"class": retention_class, "newest_day": newest.isoformat()}
        if current != wanted:
            meta["retention"] = wanted
            self._client.indices.put_mapping(index=target, meta=meta)

    def count(self, index: str, query: dict[str, Any]) -> int:
        try:
            return int(self._client.count(index=self.names.to_real(index), query=query)["count"])
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot count in {index}") from err

    def delete_matching(self, index: str, query: dict[str, Any]) -> int:
        real = self.names.to_real(index)
        deleted = 0
        try:
            for hits in self.walk(real, query, source=False):
                operations = [{"delete": {"_index": real, "_id": hit["_id"]}} for hit in hits]
                for item in self._bulk(operations):
                    status = int(item["status"])
                    if status == 200:
                        deleted += 1
                    elif status != 404:
                        raise RetentionStepFailed(
                            f"delete in {real} refused: {item.get('error', status)}"
                        )
            self._client.indices.refresh(index=real)
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot delete documents in {real}") from err
        return deleted
