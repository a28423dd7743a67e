# Baseline 5, Astral's own multi-stage example (astral-sh/uv-docker-example, multistage.Dockerfile):
# the venv is built with uv in a builder stage, with bytecode compiled, and copied into a Python
# image that has no uv.
# Adaptations: the pinned trixie images of this project (Astral stopped publishing bookworm uv
# images; the example names python3.12-bookworm-slim) with the matching python:3.13.Z-slim-trixie;
# `--chown=app:app` dropped, since neither image has a user `app`; and
# `sh -c "exec python main.py ${COMMAND}"` instead of `fastapi dev`, so the benchmark can pick
# train/serve/info and Python is still PID 1, as with the example's exec-form CMD.
FROM ghcr.io/astral-sh/uv:0.13.8-python3.13-trixie-slim AS builder
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
ENV UV_PYTHON_DOWNLOADS=0
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-install-project --no-dev
ADD . /app
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

FROM python:3.13.18-slim-trixie
COPY --from=builder /app /app
ENV PATH="/app/.venv/bin:$PATH"
WORKDIR /app
CMD ["sh", "-c", "exec python main.py ${COMMAND:-serve}"]
