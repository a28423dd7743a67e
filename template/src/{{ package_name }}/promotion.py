"""The promotion gate: a registered version becomes the champion (the version `serve` follows)
only when its held-out score is at least PROMOTE_MIN_SCORE and no lower than the champion's score
on the same held-out rows. `python main.py promote VERSION` moves the champion by hand (a
rollback is promoting an older version)."""

import logging
import shutil

from . import registry
from .artifacts import atomic_write
from .config import Settings
from .data import Split
from .predictor import FILES

log = logging.getLogger(__name__)


def champion_score(settings: Settings, split: Split) -> tuple[str, float] | None:
    """The champion's version and its score on the held-out rows; None when there is no
    champion, or when it cannot score them (trained on other columns): said, and the gate then
    judges by PROMOTE_MIN_SCORE alone."""
    current = registry.champion(settings)
    if current is None:
        return None
    try:
        champion = registry.load(settings, current)
        score = champion.score(split.features, split.labels, split.test_rows)
    except Exception as error:
        log.warning(
            "The champion, %s, cannot score this run's held-out rows (%s): the new version"
            " is judged by PROMOTE_MIN_SCORE alone.",
            current.describe(),
            " ".join(str(error).split())[:200],
        )
        return None
    return current.number, score


def gate(
    settings: Settings, candidate: registry.Version, current: tuple[str, float] | None
) -> tuple[bool, str]:
    """Whether `candidate` should become the champion, and why, in one sentence. `current` is
    champion_score's answer, taken before the run was saved (loading a model takes seconds)."""
    score, floor = candidate.score, settings.promote_min_score
    if score < floor:
        return False, (
            f"version {candidate.number} scored {score:.4f}, below PROMOTE_MIN_SCORE={floor:g}:"
            f" not promoted (`python main.py promote {candidate.number}` promotes it anyway)"
        )
    if current is None:
        return True, f"version {candidate.number} scored {score:.4f}: promoted"
    number, best = current
    if score < best:
        return False, (
            f"version {candidate.number} scored {score:.4f}, below the champion (version"
            f" {number}: {best:.4f} on the same held-out rows): not promoted"
            f" (`python main.py promote {candidate.number}` promotes it anyway)"
        )
    return True, (
        f"version {candidate.number} scored {score:.4f}, at least the champion's (version"
        f" {number}: {best:.4f} on the same held-out rows): promoted"
    )


def promote(settings: Settings, candidate: registry.Version) -> None:
    registry.promote(settings, candidate)
    # A copy of the champion's model and contract in OUTPUT_DIR, for people and tools; serve
    # follows the registry, not these files.
    for name in FILES:
        source = settings.runs_dir / candidate.run_dir / name
        if source.is_file():
            atomic_write(
                settings.output_dir / name, lambda path, s=source: shutil.copyfile(s, path)
            )


def promote_by_hand(settings: Settings, number: str) -> str:
    """`python main.py promote VERSION`; RegistryError names the versions that exist."""
    if not number.isdigit():
        raise registry.RegistryError(f"VERSION={number!r}: give a version number, e.g. 3")
    candidate = registry.version(settings, number)
    promote(settings, candidate)
    return f"{candidate.describe()} is now the champion: servers load it at their next check"
