# syntax=docker/dockerfile:1
# Image of elastra-audit; the Helm chart runs it as `audit consume`,
# `audit detect`, `audit scheduler` and `audit serve`.
# Base pinned to an exact tag; pin a digest as well in your registry mirror.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/audit
COPY pyproject.toml ./
COPY audit ./audit
COPY consumers ./consumers
# The console's htmx and uPlot, from the npm registry, checked against the
# digests in audit/ui/vendor_pins.txt (set NPM_CONFIG_REGISTRY for a mirror).
ARG NPM_CONFIG_REGISTRY=https://registry.npmjs.org
COPY scripts/fetch_console_assets.py ./scripts/
RUN NPM_CONFIG_REGISTRY=${NPM_CONFIG_REGISTRY} \
    python scripts/fetch_console_assets.py --without axe-core
# Every dependency ships wheels: no compiler needed. pip and setuptools are
# removed from the runtime venv afterwards.
RUN /opt/audit/bin/pip install --no-compile . \
 && /opt/audit/bin/pip uninstall -y pip setuptools wheel \
 && find /opt/audit -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="elastra-audit" \
      org.opencontainers.image.description="Security event and incident audit service of Elastra"
# No packaging tools in the runtime image; a fixed non-root user whose ids
# match the chart's securityContext (runAsUser/runAsGroup 10001).
RUN python -m pip uninstall -y pip setuptools wheel \
 && groupadd --system --gid 10001 audit \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin audit
COPY --from=build /opt/audit /opt/audit
ENV PATH=/opt/audit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# 8080: API (/metrics, /healthz, /readyz); 9464-9466: metrics of consumer,
# detector, scheduler.
EXPOSE 8080 9464 9465 9466
ENTRYPOINT ["audit"]
CMD ["serve"]
