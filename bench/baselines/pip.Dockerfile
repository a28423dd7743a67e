# Baseline 4, pip as `docker init` sets up a Python project: python:<ver>-slim, a non-root user,
# `pip install -r requirements.txt` with a pip cache mount, then the code.
# Adaptations: the packages go into a venv (/opt/venv) rather than the system Python;
# requirements.txt is exported from uv.lock by the benchmark; PYTHONPATH for src/; `${COMMAND}` in
# the shell-form CMD.
FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
ARG UID=10001
RUN adduser --disabled-password --gecos "" --home "/nonexistent" --shell "/sbin/nologin" \
    --no-create-home --uid "${UID}" appuser
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" PYTHONPATH=/app/src OUTPUT_DIR=/tmp/outputs
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=bind,source=requirements.txt,target=requirements.txt \
    python -m pip install -r requirements.txt
USER appuser
COPY main.py ./
COPY src ./src
EXPOSE 8080
CMD python main.py ${COMMAND:-serve}
