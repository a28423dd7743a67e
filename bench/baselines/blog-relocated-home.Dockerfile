# Baseline 3, the blog post's "relocated HOME" variant: blog-cuda with HOME=/workspace set before
# uv is installed, so the install script would put uv in /workspace/.local/bin.
# Adaptations: as blog-cuda.Dockerfile.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04
ENV UV_COMPILE_BYTECODE=1
ENV HOME=/workspace
RUN apt-get update && apt-get install -y curl ca-certificates build-essential
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /workspace/.local/bin/
ENV PATH="/workspace/.local/bin:$PATH"
WORKDIR /workspace
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --no-dev --frozen --no-install-project
ADD main.py README.md ./
ADD src ./src
CMD uv run python main.py ${COMMAND:-serve}
