"""The benchmark's tables, the issue's targets checked against them, and the chart."""

from pathlib import Path

from measurements import (
    BASE_SIZE,
    BREAKDOWN,
    CODE_REBUILD,
    DEPENDENCY_REBUILD,
    IMAGE_SIZE,
    METRICS,
    NON_ROOT,
    POETRY_FAILURE,
    READY_WITH_MODEL,
    STOP_SERVE,
    STOP_TRAIN,
    VENV_SIZE,
)
from subjects import BEFORE_OF, BLOG_OF, PIP, Subject

NUMERIC = [metric for metric in METRICS if metric != NON_ROOT]
# Every figure but those whose ratio says little (all tiny, stop train, a yes/no).
RATIO_METRICS = [m for m in METRICS if m not in (CODE_REBUILD, STOP_TRAIN, NON_ROOT)]


def fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]


def ratio(a: Subject, b: Subject, metric: str) -> float:
    return float(a.results[metric]) / float(b.results[metric])


def figures(subjects: list[Subject]) -> list[str]:
    rows = [[s.name, *(s.results.get(m, "-") for m in METRICS)] for s in subjects]
    return table(["image", *METRICS], rows)


def breakdowns(subjects: list[Subject]) -> list[str]:
    rows = [
        [s.name, s.results.get(READY_WITH_MODEL, "-"), *(s.results.get(p, "-") for p in BREAKDOWN)]
        for s in subjects
    ]
    return table(["image", READY_WITH_MODEL, *BREAKDOWN], rows)


def ratios(subjects: list[Subject]) -> list[str]:
    by_name = {s.name: s for s in subjects}
    rows = []
    for ours, blog in BLOG_OF.items():
        for other in (blog, "Astral multi-stage", PIP, BEFORE_OF[ours]):
            if ours in by_name and other in by_name:
                a, b = by_name[ours], by_name[other]
                rows.append([ours, other, *(f"{ratio(a, b, m):.2f}" for m in RATIO_METRICS)])
    return table(["ours", "vs", *RATIO_METRICS], rows)


def before_after(subjects: list[Subject]) -> list[str]:
    """Per flavor: the figure before issue 13, after, and the change."""
    by_name = {s.name: s for s in subjects}
    rows = []
    for ours, before in BEFORE_OF.items():
        if ours not in by_name or before not in by_name:
            continue
        for metric in METRICS:
            old, new = by_name[before].results.get(metric), by_name[ours].results.get(metric)
            change = (
                f"{(float(new) / float(old) - 1) * 100:+.0f} %"
                if isinstance(old, float) and isinstance(new, float) and old
                else ""
            )
            rows.append([ours.replace(" (ours)", ""), metric, old, new, change])
    return table(["flavor", "figure", "before (addf223)", "after", "change"], rows)


# The targets of issue 13: (label, check(ours, blog, pip) -> (figure, met)).
def targets() -> list[tuple[str, object]]:
    def floor(ours, blog, pip):
        limit = float(ours.results[BASE_SIZE]) + float(ours.results[VENV_SIZE]) + 5
        size = float(ours.results[IMAGE_SIZE])
        return f"{size:.0f} MB (floor + 5 = {limit:.0f})", size <= limit

    def at_most(metric, other, limit):
        def check(ours, blog, pip):
            base = blog if other == "blog" else pip
            value = ratio(ours, base, metric)
            return f"{value:.2f}×", value <= limit

        return check

    def seconds(metric, limit):
        return lambda ours, blog, pip: (
            f"{float(ours.results[metric]):.2f} s",
            float(ours.results[metric]) <= limit,
        )

    def stops(ours, blog, pip):
        serve, train = float(ours.results[STOP_SERVE]), float(ours.results[STOP_TRAIN])
        return f"{serve:.2f} s, {train:.2f} s", max(serve, train) <= 0.5

    return [
        ("image ≤ base + venv + 5 MB", floor),
        ("image ≤ 1.0× pip's", at_most(IMAGE_SIZE, "pip", 1.0)),
        ("serve ready ≤ 0.35× the post's", at_most(READY_WITH_MODEL, "blog", 0.35)),
        ("serve ready ≤ 1.0× pip's", at_most(READY_WITH_MODEL, "pip", 1.0)),
        ("dependency-change rebuild ≤ 2× the post's", at_most(DEPENDENCY_REBUILD, "blog", 2.0)),
        ("code-only rebuild ≤ 0.15 s", seconds(CODE_REBUILD, 0.15)),
        ("docker stop ≤ 0.5 s (serve, train)", stops),
    ]


def goals(subjects: list[Subject]) -> list[str]:
    by_name = {s.name: s for s in subjects}
    flavors = [ours for ours in BLOG_OF if ours in by_name]
    rows = []
    for label, check in targets():
        cells = []
        for ours in flavors:
            blog, pip = by_name.get(BLOG_OF[ours]), by_name.get(PIP)
            try:
                figure, met = check(by_name[ours], blog, pip)
                cells.append(f"{figure} {'met' if met else 'MISSED'}")
            except (AttributeError, KeyError, TypeError):  # a baseline left out with --only
                cells.append("not measured")
        rows.append([label, *cells])
    return table(["target (issue 13)", *flavors], rows)


def installers_table(installers: dict[str, dict[str, float]]) -> list[str]:
    rows = [
        [name, row["cold cache (s)"], row["warm cache (s)"]] for name, row in installers.items()
    ]
    if POETRY_FAILURE:
        rows.append(
            ["poetry install", f"not measurable here: `poetry lock` said {POETRY_FAILURE[0]!r}", ""]
        )
    return table(["installer", "cold cache (s)", "warm cache (s)"], rows)


def report(subjects: list[Subject], installers: dict[str, dict[str, float]]) -> str:
    sections = [
        figures(subjects),
        ["", "Where the serve-ready time goes (model present; medians):", ""],
        breakdowns(subjects),
        ["", "Ratios, ours / other (lower is better):", ""],
        ratios(subjects),
        ["", "Against the targets of issue 13:", ""],
        goals(subjects),
        ["", "Before (template at addf223) and after, per flavor:", ""],
        before_after(subjects),
    ]
    if installers:
        sections += [["", "Dependency installation alone (scikit-learn set, median):", ""]]
        sections += [installers_table(installers)]
    return "\n".join(line for section in sections for line in section)


def chart(subjects: list[Subject], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 3, figsize=(18, 12))
    colors = {True: "tab:blue", False: "tab:gray"}
    for axis, metric in zip(axes.flat, NUMERIC, strict=False):
        shown = [s for s in subjects if isinstance(s.results.get(metric), float | int)]
        axis.barh(
            [s.name for s in shown],
            [float(s.results[metric]) for s in shown],
            color=[colors[s.current] for s in shown],
        )
        axis.set_title(metric)
        axis.invert_yaxis()
        axis.tick_params(axis="y", labelsize=8)
    for axis in axes.flat[len(NUMERIC) :]:
        axis.axis("off")
    figure.suptitle("copier-uv-mlops images (blue) vs before and baselines (gray): lower is better")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
