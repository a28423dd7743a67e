"""What the benchmark compares: our images, the same images before issue 13, and the baselines in
bench/baselines/, each rendered into a project that is ready to build."""

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from helpers import project_env, render, uv  # noqa: E402

BASELINES = REPO / "bench" / "baselines"
# The template before issue 13 (single stage on Astral's uv image, uv and its cache in the image).
BEFORE_REF = "addf223"


@dataclass
class Subject:
    name: str
    slug: str
    flavor: str
    dockerfile: str | None = None  # a baseline in bench/baselines/, else the generated one
    ref: str = "HEAD"  # the template commit that renders the project
    results: dict[str, object] = field(default_factory=dict)

    @property
    def ours(self) -> bool:
        """Our generated Dockerfile, today's or before issue 13."""
        return self.dockerfile is None

    @property
    def current(self) -> bool:
        """Our generated Dockerfile as this checkout renders it."""
        return self.ours and self.ref == "HEAD"

    @property
    def tag(self) -> str:
        return f"bench/{self.slug}"

    def run_args(self, command: str) -> list[str]:
        """`docker run` options and arguments that run `command` (train, serve, info)."""
        if self.ours:
            return [self.tag, command]
        return ["-e", f"COMMAND={command}", self.tag]  # the baselines' CMD reads $COMMAND


SUBJECTS = [
    Subject("uv (ours)", "uv", "uv"),
    Subject("cuda (ours)", "cuda", "cuda"),
    Subject("relocated-home (ours)", "relocated-home", "relocated-home"),
    Subject("uv (before)", "before-uv", "uv", ref=BEFORE_REF),
    Subject("cuda (before)", "before-cuda", "cuda", ref=BEFORE_REF),
    Subject("relocated-home (before)", "before-relocated-home", "relocated-home", ref=BEFORE_REF),
    Subject("blog: uv", "blog-uv", "uv", "blog-uv.Dockerfile"),
    Subject("blog: cuda", "blog-cuda", "cuda", "blog-cuda.Dockerfile"),
    Subject(
        "blog: relocated HOME",
        "blog-relocated-home",
        "relocated-home",
        "blog-relocated-home.Dockerfile",
    ),
    Subject("Astral multi-stage", "astral-multistage", "uv", "astral-multistage.Dockerfile"),
    Subject("pip (docker init)", "pip", "uv", "pip.Dockerfile"),
]
PIP = "pip (docker init)"
# Each of our flavors, the post's image it answers, and the same flavor before issue 13.
BLOG_OF = {
    "uv (ours)": "blog: uv",
    "cuda (ours)": "blog: cuda",
    "relocated-home (ours)": "blog: relocated HOME",
}
BEFORE_OF = {
    "uv (ours)": "uv (before)",
    "cuda (ours)": "cuda (before)",
    "relocated-home (ours)": "relocated-home (before)",
}


def prepare(subject: Subject, workdir: Path) -> Path:
    """The subject's project, rendered and locked, with its Dockerfile and requirements.txt."""
    project = render(workdir / subject.slug, ref=subject.ref, image_flavor=subject.flavor)
    if subject.dockerfile:
        shutil.copy(BASELINES / subject.dockerfile, project / "Dockerfile")
    export_requirements(project)
    return project


def export_requirements(project: Path) -> None:
    """requirements.txt from uv.lock, for the pip baseline."""
    requirements = subprocess.run(
        [uv(), "export", "--quiet", "--locked", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (project / "requirements.txt").write_text(requirements)


def add_dependency(project: Path, package: str) -> None:
    subprocess.run([uv(), "add", "--quiet", package], cwd=project, check=True, env=project_env())
    export_requirements(project)


def base_images(workdir: Path) -> list[Path]:
    """Dockerfiles that name every base image the subjects pull (for the stand-ins)."""
    probes = [
        render(workdir / f"probe-{flavor}", lock=False, image_flavor=flavor)
        for flavor in ("uv", "cuda")
    ]
    return [probe / "Dockerfile" for probe in probes] + sorted(BASELINES.glob("*.Dockerfile"))
