# Baseline 1, the blog post's single-stage Dockerfile on Astral's uv image.
# Adaptations (and nothing else): WORKDIR, which the post lacks (without it the image cannot run:
# "can't open file '//main.py'"); `--no-install-project`, since this project is a package whose
# sources arrive later; src/ and README.md (which `uv run` needs to build this project) added next
# to main.py; and `${COMMAND}` in the shell-form CMD so the benchmark can pick train/serve/info.
FROM ghcr.io/astral-sh/uv:0.13.8-python3.13-trixie-slim
WORKDIR /workspace
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --no-dev --frozen --no-install-project
ADD main.py README.md ./
ADD src ./src
CMD uv run python main.py ${COMMAND:-serve}
