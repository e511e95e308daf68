"""One index of versioned records, as ``audit.adapters.elasticsearch.versioned`` sees it.

Every write bumps the index's sequence number (one shard, primary term 1);
``create`` of an existing id answers False (409), ``replace`` at a version
that is not the stored one (or of a missing record) raises ``ConflictError``
(409 on ``if_seq_no``), a missing record ``NotFound`` (404). Sources are
stored as JSON (what the node keeps), so a record read back is a new object.
``outages`` makes calls fail as an unreachable node does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from audit.errors import ConflictError, NotFound
from audit.services.ports.incidents import Version
from tests.fakes.faults import Outages

PRIMARY_TERM = 1


class FakeVersionedIndex:
    def __init__(self, index: str, kind: str) -> None:
        self.index = index
        self.kind = kind
        self.docs: dict[str, tuple[dict[str, Any], int]] = {}
        self._seq_no = -1
        self.outages = Outages()
        self.writes = 0
        self.conflicts = 0
        self._races: dict[str, list[Callable[[dict[str, Any]], None]]] = {}

    def _next_seq(self) -> int:
        self._seq_no += 1
        return self._seq_no

    def get(self, doc_id: str) -> tuple[dict[str, Any], Version]:
        self.outages.check(f"cannot read {self.kind} {doc_id}")
        if doc_id not in self.docs:
            raise NotFound(f"no {self.kind} {doc_id!r} (index {self.index})")
        source, seq_no = self.docs[doc_id]
        return orjson.loads(orjson.dumps(source)), Version(seq_no, PRIMARY_TERM)

    def create(self, doc_id: str, source: dict[str, Any]) -> bool:
        self.outages.check(f"cannot create {self.kind} {doc_id}")
        if doc_id in self.docs:
            return False
        self.docs[doc_id] = (orjson.loads(orjson.dumps(source)), self._next_seq())
        self.writes += 1
        return True

    def put(self, doc_id: str, source: dict[str, Any], what: str) -> None:
        """Index without a version (create or overwrite)."""
        self.outages.check(what)
        self.docs[doc_id] = (orjson.loads(orjson.dumps(source)), self._next_seq())
        self.writes += 1

    def replace(self, doc_id: str, source: dict[str, Any], version: Version) -> None:
        self.outages.check(f"cannot write {self.kind} {doc_id}")
        races = self._races.get(doc_id)
        if races:
            self.concurrent_write(doc_id, races.pop(0))
        current = self.docs.get(doc_id)
        if current is None or current[1] != version.seq_no or version.primary_term != PRIMARY_TERM:
            self.conflicts += 1
            raise ConflictError(
                f"{self.kind} {doc_id} changed since it was read; re-read and retry"
            )
        self.docs[doc_id] = (orjson.loads(orjson.dumps(source)), self._next_seq())
        self.writes += 1

    def search(
        self, keep: Callable[[dict[str, Any]], bool], sort: Callable[[dict[str, Any]], Any]
    ) -> list[dict[str, Any]]:
        self.outages.check(f"cannot search {self.index}")
        found = [orjson.loads(orjson.dumps(s)) for s, _ in self.docs.values() if keep(s)]
        return sorted(found, key=sort)

    def concurrent_write(self, doc_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Another writer changes the stored record now (its version moves on)."""
        source, _ = self.docs[doc_id]
        changed = orjson.loads(orjson.dumps(source))
        change(changed)
        self.docs[doc_id] = (changed, self._next_seq())

    def race(self, doc_id: str, change: Callable[[dict[str, Any]], None], times: int = 1) -> None:
        """The next ``times`` versioned writes of ``doc_id`` each lose a race: another
        writer applies ``change`` between their read and their write."""
        self._races.setdefault(doc_id, []).extend([change] * times)
