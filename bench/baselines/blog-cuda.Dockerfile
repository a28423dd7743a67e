# Baseline 2, the blog post's CUDA Dockerfile.
# Adaptations: uv is copied from the pinned uv image to where its install script puts it
# (~/.local/bin), because the install script's host is unreachable offline; plus those of
# blog-uv.Dockerfile (`--no-install-project`, src/ and README.md,
# `${COMMAND}`).
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04
ENV UV_COMPILE_BYTECODE=1
RUN apt-get update && apt-get install -y curl ca-certificates build-essential
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /root/.local/bin/
ENV PATH="/root/.local/bin:$PATH"
WORKDIR /workspace
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --no-dev --frozen --no-install-project
ADD main.py README.md ./
ADD src ./src
CMD uv run python main.py ${COMMAND:-serve}
