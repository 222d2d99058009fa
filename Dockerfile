# The parallelai daemon as a container: docs/container.md.
#
#   docker build -t parallelai/orchestrator .
#   docker build -t parallelai/orchestrator --build-arg ENGINE_CLIS="@anthropic-ai/claude-code@2.1.197" .
#   docker run -d -p 127.0.0.1:8787:8787 -v parallelai-state:/var/lib/parallelai parallelai/orchestrator
#
# The base is plain Debian (its python3 is 3.11, which parallelai supports), so the image can also be
# built from a base made locally from Debian packages (mmdebstrap) where no image registry is reachable.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# Apt versions are not pinned (DL3008): see the final stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY parallelai ./parallelai
# A venv with parallelai and its dependencies, copied whole into the final stage (no pip there).
RUN python3 -m venv /opt/parallelai \
    && /opt/parallelai/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && /opt/parallelai/bin/parallelai --version

FROM ${BASE_IMAGE}
# Assistant CLIs installed from npm, space-separated exact versions as scripts/install-clis.sh pins
# them, e.g. "@anthropic-ai/claude-code@2.1.197 @openai/codex@0.169.0". Empty: API engines only.
ARG ENGINE_CLIS=""
# Apt versions are not pinned: Debian's security updates replace them within a release, whose name
# the base image tag pins (DL3008). The npm packages are pinned in ENGINE_CLIS, which hadolint
# cannot see (DL3016). git is for isolated runs (worktrees); Node only with CLIs.
# hadolint ignore=DL3008,DL3016
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 git ca-certificates \
    && if [ -n "$ENGINE_CLIS" ]; then \
         apt-get install -y --no-install-recommends nodejs npm \
         && npm install --global --no-audit --no-fund $ENGINE_CLIS \
         && npm cache clean --force; \
       fi \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 parallelai \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/parallelai parallelai \
    && install -d -o parallelai -g parallelai /var/lib/parallelai /work

COPY --from=build /opt/parallelai /opt/parallelai

ENV PATH=/opt/parallelai/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PARALLELAI_STATE_DIR=/var/lib/parallelai \
    PARALLELAI_WORKDIR_ROOTS=/work

USER 10001:10001
WORKDIR /work
# The store, the task cache and daemon.json (with the token) live here.
VOLUME ["/var/lib/parallelai"]
EXPOSE 8787

# `parallelai status` reads daemon.json and asks /v1/health with the token: up and answering.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["parallelai", "status"]

# 0.0.0.0 inside the container so a published port reaches it; --allow-remote is what permits a
# non-loopback address (and drops the loopback Host check); the token is still required.
ENTRYPOINT ["parallelai", "serve", "--host", "0.0.0.0", "--port", "8787", "--allow-remote"]
