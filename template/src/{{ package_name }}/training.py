"""Train the model, then write the artifact and its metrics to the output directory."""

import json
import logging
import time

from . import model
from .config import Settings
from .data import make_dataset, train_test_split
from .device import select_device

log = logging.getLogger(__name__)


def train(settings: Settings) -> dict[str, object]:
    device, reason = select_device()
    log.info(reason)
    started = time.perf_counter()
    train_x, train_y, test_x, test_y = train_test_split(*make_dataset(settings.train_samples))
    fitted = model.fit(train_x, train_y, device=device)
    predictions = model.predict(fitted, test_x)
    correct = sum(p == y for p, y in zip(predictions, test_y, strict=True))
    metrics: dict[str, object] = {
        "accuracy": correct / len(test_y),
        "n_train": len(train_y),
        "n_test": len(test_y),
        "framework": model.FRAMEWORK,
        "device": device,
        "seconds": round(time.perf_counter() - started, 3),
    }
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    model.save(fitted, settings.model_path)
    settings.metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("Wrote %s and %s", settings.model_path, settings.metrics_path)
    log.info("Accuracy on held-out data: %.3f", metrics["accuracy"])
    return metrics


def load_or_train(settings: Settings) -> model.Model:
    """The trained model; trains it first when no artifact exists yet (a fresh container)."""
    path = settings.model_path
    if not path.exists():
        log.info("No model at %s yet: training one first.", path)
        train(settings)
    return model.load(path)
