# syntax=docker/dockerfile:1
# One image for every Journeys process; the command picks the role:
#   docker run journeys migrate | api | worker | router
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
# .dockerignore keeps the context to what `pip install .` needs.
COPY . .
RUN /opt/venv/bin/pip install .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JOURNEYS_ENV=production \
    JOURNEYS_TEMPLATES_DIR=/app/templates \
    JOURNEYS_DATA_DIR=/app/data \
    JOURNEYS_API_HOST=0.0.0.0 \
    JOURNEYS_API_PORT=8000
RUN groupadd --system --gid 10001 journeys \
    && useradd --system --uid 10001 --gid journeys --home-dir /app --no-create-home journeys
COPY --from=build /opt/venv /opt/venv
COPY templates/ /app/templates/
RUN mkdir -p /app/data && chown journeys:journeys /app/data
WORKDIR /app
# Numeric, so orchestrators that require a non-root user can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["journeys"]
CMD ["--help"]
