"""The API's job records and the files jobs leave, in Elasticsearch.

Implements :class:`audit.services.ports.jobs.JobStore`. A job is one
document of ``audit-api-jobs`` read by id (real time: the replica polled
next sees the last write at once). A file is stored in chunks of
``chunk_bytes`` in ``audit-api-job-files``, one document per chunk with a
computed id (``<job>/<name>/<seq>``), read back by id in order and checked
against the size and SHA-256 taken when it was stored. Both indices are
created on first use. Forgetting a job searches its chunks and deletes them
in bulk (delete-by-query is a module a minimal node may not have).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from audit.adapters.elasticsearch.versioned import ensure_index, unavailable
from audit.services.ports.jobs import StoredFile, StoredFileCorrupt

RECORDS_MAPPING = "audit-api-jobs"
FILES_MAPPING = "audit-api-job-files"
#: Bytes per chunk document (base64 in the request: a third more).
CHUNK_BYTES = 4 * 1024 * 1024
_DELETE_PAGE = 1000


class ElasticsearchJobStore:
    def __init__(
        self,
        client: Callable[[], Elasticsearch],
        records_index: str = "audit-api-jobs",
        files_index: str = "audit-api-job-files",
        *,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._client = client
        self._records = records_index
        self._files = files_index
        self._chunk = chunk_bytes
        self._ready = False

    def _ensured(self) -> Elasticsearch:
        client = self._client()
        if not self._ready:
            ensure_index(client, self._records, RECORDS_MAPPING)
            ensure_index(client, self._files, FILES_MAPPING)
            self._ready = True
        return client

    def save(self, record: dict[str, Any]) -> None:
        try:
            self._ensured().index(index=self._records, id=record["id"], document=record)
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot save job {record['id']}") from err

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            found = self._client().get(index=self._records, id=job_id)
        except NotFoundError:
            return None  # no such job, or no job was ever saved
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot read job {job_id}") from err
        return dict(found["_source"])

    def records(self, kind: str | None, limit: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"match_all": {}} if kind is None else {"term": {"kind": kind}}
        try:
            found = self._client().search(
                index=self._records,
                query=query,
                sort=[{"created_at": "desc"}, {"id": "desc"}],
                size=limit,
                ignore_unavailable=True,
            )
        except (ApiError, TransportError) as err:
            raise unavailable(err, "cannot list jobs") from err
        return [dict(hit["_source"]) for hit in found["hits"]["hits"]]

    def delete(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        client = self._client()
        try:
            while True:
                found = client.search(
                    index=self._files,
                    query={"terms": {"job_id": job_ids}},
                    size=_DELETE_PAGE,
                    source=False,
                    ignore_unavailable=True,
                    filter_path="hits.hits._id",
                )
                chunks = [hit["_id"] for hit in found.get("hits", {}).get("hits", [])]
                if not chunks:
                    break
                client.bulk(
                    operations=[{"delete": {"_index": self._files, "_id": i}} for i in chunks],
                    refresh=True,
                    filter_path="errors",
                )
            client.bulk(
                operations=[{"delete": {"_index": self._records, "_id": i}} for i in job_ids],
                refresh=True,
                filter_path="errors",
            )
        except (ApiError, TransportError) as err:
            raise unavailable(err, "cannot forget old jobs") from err

    def put_file(self, job_id: str, name: str, path: Path) -> StoredFile:
        client = self._ensured()
        digest = hashlib.sha256()
        size = seq = 0
        try:
            with path.open("rb") as source:
                while chunk := source.read(self._chunk):
                    digest.update(chunk)
                    size += len(chunk)
                    client.index(
                        index=self._files,
                        id=f"{job_id}/{name}/{seq}",
                        document={
                            "job_id": job_id,
                            "name": name,
                            "seq": seq,
                            "data": base64.b64encode(chunk).decode("ascii"),
                        },
                    )
                    seq += 1
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot store {name} of job {job_id}") from err
        return StoredFile(name, size, digest.hexdigest())

    def read_file(self, job_id: str, stored: StoredFile) -> Iterator[bytes]:
        client = self._client()
        digest = hashlib.sha256()
        size = seq = 0
        while size < stored.size:
            try:
                found = client.get(index=self._files, id=f"{job_id}/{stored.name}/{seq}")
            except NotFoundError:
                raise StoredFileCorrupt(
                    f"{stored.name} of job {job_id}: chunk {seq} is missing"
                ) from None
            except (ApiError, TransportError) as err:
                raise unavailable(err, f"cannot read {stored.name} of job {job_id}") from err
            chunk = base64.b64decode(found["_source"]["data"])
            digest.update(chunk)
            size += len(chunk)
            seq += 1
            yield chunk
        if size != stored.size or digest.hexdigest() != stored.sha256:
            raise StoredFileCorrupt(
                f"{stored.name} of job {job_id} does not read back as stored"
                f" ({size} bytes, {stored.size} expected, or a different SHA-256)"
            )
