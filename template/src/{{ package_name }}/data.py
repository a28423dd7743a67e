"""A small labelled dataset generated on the fly, so training needs no download."""

import random

N_FEATURES = 4
N_CLASSES = 3

# One centre per class, far enough apart that a good model scores well above chance.
_CENTRES = [(0.0, 0.0, 0.0, 0.0), (3.0, 3.0, 0.0, 1.0), (0.0, 3.0, 3.0, -1.0)]

Rows = list[list[float]]


def make_dataset(n_samples: int = 600, seed: int = 0) -> tuple[Rows, list[int]]:
    """Gaussian blobs around fixed centres, the same for the same seed."""
    rng = random.Random(seed)
    features: Rows = []
    labels: list[int] = []
    for index in range(n_samples):
        label = index % N_CLASSES
        features.append([rng.gauss(centre, 1.0) for centre in _CENTRES[label]])
        labels.append(label)
    return features, labels


def train_test_split(
    features: Rows, labels: list[int], test_fraction: float = 0.25
) -> tuple[Rows, list[int], Rows, list[int]]:
    """Deterministic split: the last test_fraction of the rows is held out."""
    cut = int(len(features) * (1 - test_fraction))
    return features[:cut], labels[:cut], features[cut:], labels[cut:]
