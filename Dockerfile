# One image for every ml-assets process of docker-compose.yml: the gRPC code server (and the run
# processes it starts), dagster-webserver, dagster-daemon, the MLflow tracking server and Celery
# workers. Dependencies come from uv.lock, exactly as in CI.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    ML_ASSETS_HOME=/home/ml-assets/.ml_assets \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /opt/ml-assets
# Dependencies first: a code change does not re-install them.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project --compile-bytecode

COPY README.md workspace.yaml dagster.yaml ./
COPY ml_assets ./ml_assets
COPY deploy ./deploy
RUN uv sync --locked --no-dev --compile-bytecode \
    && mkdir -p "$DAGSTER_HOME" \
    && cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml" \
    && useradd --create-home --uid 10001 ml-assets \
    && chown -R ml-assets "$DAGSTER_HOME"

USER ml-assets
# 4000 code server, 3000 webserver, 5000 MLflow
EXPOSE 4000 3000 5000
CMD ["dagster", "code-server", "start", "-m", "ml_assets.definitions", "-h", "0.0.0.0", "-p", "4000", "--location-name", "ml_assets"]
