# syntax=docker/dockerfile:1
# The fraudstream image: every app service in docker-compose.yml runs
# `fraudstream <command>` from it (the MLflow server too, with entrypoint
# `mlflow`, since mlflow is a project dependency). Configuration comes only
# from FRAUDSTREAM_* environment variables (contracts/settings.py).
#
#   docker build -t fraudstream:local .
#   docker run --rm fraudstream:local --help

# -- build: a virtualenv with the project and its dependencies ---------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject alone, so a code change does not reinstall them:
# the core, the `postgres` extra (MLflow's and the review queue's stores) and the `llm`
# extra (the LLM worker). torch comes from PyTorch's CPU index: the default PyPI wheel
# drags in gigabytes of CUDA libraries this image never uses.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres'] + p['optional-dependencies']['llm']))" > requirements.txt \
    && pip install --index-url https://download.pytorch.org/whl/cpu "$(grep '^torch' requirements.txt)" \
    && pip install -r requirements.txt

COPY contracts ./contracts
COPY feature_store ./feature_store
COPY models ./models
COPY rules ./rules
COPY services ./services
RUN pip install --no-deps .

# -- runtime ------------------------------------------------------------------------
FROM python:3.11-slim

# libgomp1: the OpenMP runtime that LightGBM and XGBoost load; slim images lack it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# An unprivileged user; its directories exist in the image so that named volumes
# mounted on them start out owned by it.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin fraudstream \
    && mkdir -p /var/lib/fraudstream/state /var/lib/fraudstream/data \
                /var/lib/fraudstream/input /var/lib/fraudstream/mlartifacts \
    && chown -R fraudstream:fraudstream /var/lib/fraudstream
USER fraudstream
WORKDIR /var/lib/fraudstream

ENTRYPOINT ["fraudstream"]
CMD ["--help"]
