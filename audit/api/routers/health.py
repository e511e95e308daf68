"""``/healthz`` (alive), ``/readyz`` (Elasticsearch and Kafka reachable), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from audit.api.deps import Services

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    elasticsearch: bool
    kafka: bool


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"description": "not ready", "model": Readiness}},
    summary="Elasticsearch and Kafka are reachable",
)
def readyz(services: Services) -> JSONResponse:
    es = services.events.reachable()
    kafka = services.access_log.reachable()
    ready = Readiness(
        status="ready" if es and kafka else "not ready", elasticsearch=es, kafka=kafka
    )
    return JSONResponse(ready.model_dump(), status_code=200 if es and kafka else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}
    },
    summary="Prometheus metrics",
)
def metrics(services: Services) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
