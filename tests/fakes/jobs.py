"""Fake of the API's job store (``audit.services.ports.jobs``).

:class:`FakeJobStore` keeps records and files in memory and answers as
``ElasticsearchJobStore`` does (tests/integration/test_fakes_contract.py
holds them to the same assertions): records by id, the newest first by
``created_at`` then id; a file read back in chunks and checked against its
size and SHA-256 (``corrupt`` flips a byte of one, as a damaged chunk
would); ``outage`` makes every call raise ``StoreUnavailable``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audit.errors import StoreUnavailable
from audit.services.ports.jobs import StoredFile, StoredFileCorrupt

CHUNK = 1024


class FakeJobStore:
    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}
        self.files: dict[tuple[str, str], list[bytes]] = {}
        self.outage = False

    def _up(self) -> None:
        if self.outage:
            raise StoreUnavailable("the fake job store is down")

    def save(self, record: dict[str, Any]) -> None:
        self._up()
        self.saved[record["id"]] = copy.deepcopy(record)

    def get(self, job_id: str) -> dict[str, Any] | None:
        self._up()
        record = self.saved.get(job_id)
        return None if record is None else copy.deepcopy(record)

    def records(self, kind: str | None, limit: int) -> list[dict[str, Any]]:
        self._up()
        found = [r for r in self.saved.values() if kind is None or r["kind"] == kind]
        found.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return copy.deepcopy(found[:limit])

    def delete(self, job_ids: list[str]) -> None:
        self._up()
        for job_id in job_ids:
            self.saved.pop(job_id, None)
            for key in [k for k in self.files if k[0] == job_id]:
                del self.files[key]

    def put_file(self, job_id: str, name: str, path: Path) -> StoredFile:
        self._up()
        data = path.read_bytes()
        self.files[(job_id, name)] = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
        return StoredFile(name, len(data), hashlib.sha256(data).hexdigest())

    def read_file(self, job_id: str, stored: StoredFile) -> Iterator[bytes]:
        self._up()
        chunks = self.files.get((job_id, stored.name))
        if chunks is None and stored.size:
            raise StoredFileCorrupt(f"{stored.name} of job {job_id}: chunk 0 is missing")
        digest = hashlib.sha256()
        size = 0
        for chunk in chunks or []:
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        if size != stored.size or digest.hexdigest() != stored.sha256:
            raise StoredFileCorrupt(f"{stored.name} of job {job_id} does not read back as stored")

    def corrupt(self, job_id: str, name: str) -> None:
        chunks = self.files[(job_id, name)]
        chunks[0] = bytes([chunks[0][0] ^ 1]) + chunks[0][1:]
