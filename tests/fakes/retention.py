"""Fakes of the retention ports (``audit.services.ports.retention``).

:class:`FakeRetentionCluster` keeps indices by their domain names
(``audit-events-<class>-<day>``, ``audit-holds-<id>``) with settings, blocks,
segments and documents, and refuses what the 8.19 node refuses, with the
error types ``ElasticsearchRetentionCluster`` raises for it:

* under ``read_only``: force-merge, settings updates (replicas, tier) and
  deleting the index are refused (403 -> ``RetentionStepFailed``);
  document writes and deletes are refused under either block;
* a step, ``set_block`` or ``force_merge`` on a missing index: 404 ->
  ``RetentionStepFailed`` (deleting one is a no-op); ``count`` and
  ``delete_matching`` on a missing index let the client's ``NotFoundError``
  through, as the adapter does;
* ``outages``: ``StoreUnavailable``;
* ``copy_held`` copies by ``_id`` with ``create`` and verifies: a copy that
  is not complete raises ``HoldCopyNotVerified`` and the source stays.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from audit.domain.retention import (
    IndexState,
    LegalHold,
    RetentionPolicy,
    Step,
    StepKind,
    parse_index_name,
)
from audit.errors import ConflictError, InvalidTransition, NotFound
from audit.services.ports.retention import (
    CopyReport,
    HeldSource,
    HoldCopyNotVerified,
    OrgClassRecord,
    RetentionStepFailed,
)
from tests.fakes.faults import Outages, api_error
from tests.fakes.query import matches
from tests.fakes.versioned import FakeVersionedIndex

UNKNOWN_NEWEST_DAY = date(9999, 1, 1)
_BLOCKED = "cluster_block_exception: index [{}] blocked by: [FORBIDDEN/5/index read-only (api)];"


@dataclass
class FakeIndex:
    write_block: bool = False
    read_only: bool = False
    replicas: int = 1
    segments: int = 1
    tier_preference: str | None = None
    meta: dict[str, Any] | None = None  # a hold index's retention _meta
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeRetentionCluster:
    def __init__(self, policy: RetentionPolicy) -> None:
        self._policy = policy
        self.indices: dict[str, FakeIndex] = {}
        self.outages = Outages()
        self.refusals: dict[tuple[str, StepKind], str] = {}
        self.steps: list[tuple[str, str]] = []  # (index, step kind) applied, in order

    # --- set-up and inspection ----------------------------------------------

    def add_index(
        self, name: str, docs: dict[str, dict[str, Any]] | None = None, **state: Any
    ) -> None:
        self.indices[name] = FakeIndex(docs=copy.deepcopy(docs or {}), **state)

    def refuse(self, index: str, kind: StepKind, reason: str = "refused") -> None:
        """The node refuses this step on this index (a 4xx, e.g. a disk watermark)."""
        self.refusals[(index, kind)] = reason

    # --- the port -------------------------------------------------------------

    def observe(self) -> list[IndexState]:
        self.outages.check("cannot observe the indices")
        states = []
        for name, index in sorted(self.indices.items()):
            observed: dict[str, Any] = {
                "write_block": index.write_block,
                "read_only": index.read_only,
                "replicas": index.replicas,
                "segments": index.segments,
                "tier_preference": index.tier_preference,
            }
            if parse_index_name(name) is not None:
                states.append(IndexState.event_index(name, **observed))
            else:
                states.append(IndexState(name=name, **self._hold_meta(index.meta), **observed))
        return states

    def _hold_meta(self, meta: dict[str, Any] | None) -> dict[str, Any]:
        if meta:
            return {"retention_class": meta["class"], "day": date.fromisoformat(meta["newest_day"])}
        longest = max(self._policy.classes.items(), key=lambda kv: kv[1].delete_after_days)
        return {"retention_class": longest[0], "day": UNKNOWN_NEWEST_DAY}

    def _get(self, name: str) -> FakeIndex:
        if name not in self.indices:
            raise api_error(404, "index_not_found_exception", f"no such index [{name}]")
        return self.indices[name]

    def apply_step(self, step: Step, source: HeldSource | None = None) -> CopyReport | None:
        what = f"{step.kind.value} on {step.index}"
        self.outages.check(what)
        refused = self.refusals.get((step.index, step.kind))
        if refused is not None:
            raise RetentionStepFailed(f"{what}: {refused}")
        if step.kind is StepKind.DELETE_INDEX:
            index = self.indices.get(step.index)
            if index is not None:
                if index.read_only:
                    raise RetentionStepFailed(f"{what}: " + _BLOCKED.format(step.index))
                del self.indices[step.index]
            self.steps.append((step.index, step.kind.value))
            return None
        if step.index not in self.indices:
            raise RetentionStepFailed(f"{what}: index_not_found_exception")
        index = self.indices[step.index]
        report: CopyReport | None = None
        match step.kind:
            case StepKind.REMOVE_READ_ONLY:
                index.read_only = False
            case StepKind.ADD_READ_ONLY:
                index.read_only = True
            case StepKind.ADD_WRITE_BLOCK:
                index.write_block = True
            case StepKind.FORCE_MERGE:
                self._unless_read_only(index, step.index, what)
                index.segments = min(index.segments, step.segments or 1)
            case StepKind.SET_REPLICAS:
                self._unless_read_only(index, step.index, what)
                assert step.replicas is not None
                index.replicas = step.replicas
            case StepKind.SET_TIER_PREFERENCE:
                self._unless_read_only(index, step.index, what)
                index.tier_preference = step.tier_preference
            case StepKind.COPY_HELD:
                assert step.target is not None and step.query is not None
                if source is None:
                    raise ValueError("copy_held needs the source's class and day")
                report = self._copy_held(step.index, step.target, step.query, source)
        self.steps.append((step.index, step.kind.value))
        return report

    @staticmethod
    def _unless_read_only(index: FakeIndex, name: str, what: str) -> None:
        if index.read_only:
            raise RetentionStepFailed(f"{what}: " + _BLOCKED.format(name))

    def _copy_held(
        self, source: str, target: str, query: dict[str, Any], held: HeldSource
    ) -> CopyReport:
        into = self.indices.setdefault(target, FakeIndex(replicas=1))
        self._record_source(into, held)
        selected = [
            (doc_id, doc)
            for doc_id, doc in self._get(source).docs.items()
            if matches(query, doc, doc_id)
        ]
        created = already = 0
        for doc_id, doc in selected:
            if into.write_block or into.read_only:
                continue  # the bulk item answers 403; verification below notices
            if doc_id in into.docs:
                already += 1
            else:
                into.docs[doc_id] = copy.deepcopy(doc)
                created += 1
        verified = sum(1 for doc_id, _ in selected if doc_id in into.docs)
        report = CopyReport(len(selected), created, already, verified)
        if verified != len(selected):
            raise HoldCopyNotVerified(
                f"{source} -> {target}: {len(selected)} selected, {len(selected)} read, "
                f"{verified} found in the hold index; not deleting"
            )
        return report

    def _record_source(self, into: FakeIndex, held: HeldSource) -> None:
        classes = self._policy.classes
        current = into.meta or {}
        retention_class = held.retention_class
        old = current.get("class")
        if old in classes and (
            retention_class not in classes
            or classes[old].delete_after_days > classes[retention_class].delete_after_days
        ):
            retention_class = old
        newest = held.day
        if current.get("newest_day"):
            newest = max(newest, date.fromisoformat(current["newest_day"]))
        into.meta = {"class": retention_class, "newest_day": newest.isoformat()}

    def count(self, index: str, query: dict[str, Any]) -> int:
        self.outages.check(f"cannot count in {index}")
        return sum(1 for i, d in self._get(index).docs.items() if matches(query, d, i))

    def delete_matching(self, index: str, query: dict[str, Any]) -> int:
        self.outages.check(f"cannot delete documents in {index}")
        target = self._get(index)
        doomed = [i for i, d in target.docs.items() if matches(query, d, i)]
        if doomed and (target.write_block or target.read_only):
            raise RetentionStepFailed(f"delete in {index} refused: " + _BLOCKED.format(index))
        for doc_id in doomed:
            del target.docs[doc_id]
        return len(doomed)

    def set_block(self, index: str, block: str, present: bool) -> None:
        if block not in ("read_only", "write"):
            raise ValueError(f"unknown block {block!r}")
        what = f"{'add' if present else 'remove'} {block} on {index}"
        self.outages.check(what)
        if index not in self.indices:
            raise RetentionStepFailed(f"{what}: index_not_found_exception")
        target = self.indices[index]
        if block == "read_only":
            target.read_only = present
        else:
            target.write_block = present
        self.steps.append((index, f"{'add' if present else 'remove'}_{block}"))

    def force_merge(self, index: str, segments: int) -> None:
        what = f"force_merge on {index}"
        self.outages.check(what)
        if index not in self.indices:
            raise RetentionStepFailed(f"{what}: index_not_found_exception")
        target = self.indices[index]
        self._unless_read_only(target, index, what)
        target.segments = min(target.segments, segments)
        self.steps.append((index, "force_merge"))


class FakeHoldStore:
    """``ElasticsearchHoldStore``'s documents (the hold plus its log) in a versioned index."""

    def __init__(self, index: str = "audit-legal-holds") -> None:
        self.docs = FakeVersionedIndex(index, "legal hold")

    def create(self, hold: LegalHold) -> bool:
        entry = {
            "action": "created",
            "by": hold.created_by,
            "at": hold.created_at.isoformat(),
            "reason": hold.reason,
            "reference": hold.reference,
        }
        return self.docs.create(hold.id, {"hold": hold.model_dump(mode="json"), "log": [entry]})

    def get(self, hold_id: str) -> LegalHold:
        return LegalHold.model_validate(self.docs.get(hold_id)[0]["hold"])

    def all(self) -> list[LegalHold]:
        found = self.docs.search(lambda s: True, lambda s: s["hold"]["id"])
        return [LegalHold.model_validate(s["hold"]) for s in found]

    def log(self, hold_id: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.docs.get(hold_id)[0].get("log", [])
        return entries

    def release(self, hold_id: str, by: str, at: datetime, reason: str) -> LegalHold:
        source, version = self.docs.get(hold_id)
        hold = LegalHold.model_validate(source["hold"])
        try:
            released = hold.release(by, at)
        except ValueError as err:
            raise InvalidTransition(str(err)) from None
        entry = {"action": "released", "by": by, "at": at.isoformat(), "reason": reason}
        document = {"hold": released.model_dump(mode="json"), "log": [*source["log"], entry]}
        try:
            self.docs.replace(hold_id, document, version)
        except ConflictError:
            raise ConflictError(
                f"hold {hold_id} changed while being released; list it and retry"
            ) from None
        return released


class FakeOrgSettingsStore:
    """``ElasticsearchOrgSettingsStore``'s read-modify-write (5 attempts) over a versioned index."""

    ATTEMPTS = 5

    def __init__(self, index: str = "audit-org-settings") -> None:
        self.docs = FakeVersionedIndex(index, "organization settings")

    def get_class(self, organization_id: str) -> str | None:
        try:
            source, _ = self.docs.get(organization_id)
        except NotFound:
            return None
        value = source.get("retention_class")
        return str(value) if value is not None else None

    def set_class(self, record: OrgClassRecord) -> str | None:
        change = {
            "retention_class": record.retention_class,
            "updated_by": record.updated_by,
            "updated_at": record.updated_at.isoformat(),
            "reason": record.reason,
        }
        for _ in range(self.ATTEMPTS):
            try:
                source, version = self.docs.get(record.organization_id)
            except NotFound:
                document = {
                    "organization_id": record.organization_id,
                    **change,
                    "history": [change],
                }
                if self.docs.create(record.organization_id, document):
                    return None
                continue
            previous = source.get("retention_class")
            document = {**source, **change, "history": [*source.get("history", []), change]}
            try:
                self.docs.replace(record.organization_id, document, version)
            except ConflictError:
                continue
            return str(previous) if previous is not None else None
        raise ConflictError(f"settings of {record.organization_id} kept changing; retry the change")
