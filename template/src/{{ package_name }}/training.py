"""Train the model, then write it with its metrics and provenance: the run's own directory under
OUTPUT_DIR/runs, and OUTPUT_DIR's current model, each replaced atomically."""

import json
import logging
import shutil
import time
from datetime import UTC, datetime

from . import model, stopping
from .artifacts import atomic_write, new_run_dir, write_json
from .config import MODEL_FILE, Settings
from .data import Dataset, demo_dataset, read_dataset, train_test_split
from .device import select_device
from .progress import Progress
from .provenance import provenance
from .tracking import tracked_run

log = logging.getLogger(__name__)


def load_training_data(settings: Settings) -> Dataset:
    if settings.data_path is not None:
        return read_dataset(settings.data_path, settings.label_column)
    return demo_dataset(settings.train_samples)


def train(settings: Settings) -> dict[str, object]:
    with stopping.training():
        return _train(settings)


def _train(settings: Settings) -> dict[str, object]:
    device, reason = select_device()
    log.info(reason)
    dataset = load_training_data(settings)
    started = time.perf_counter()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    train_x, train_y, test_x, test_y = train_test_split(dataset.features, dataset.labels)
    params = {
        "framework": model.FRAMEWORK,
        "device": device,
        "epochs": settings.epochs,
        "n_train": len(train_y),
        "n_test": len(test_y),
        "data": dataset.source,
    }
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    with tracked_run(settings, params) as tracker:
        tracker.log_dataset(dataset)
        progress = Progress(on_metrics=tracker.log_metrics)
        fitted = model.fit(
            train_x,
            train_y,
            progress,
            settings.epochs,
            device=device,
            checkpoint=settings.checkpoint_path,
        )
        predictions = model.predict(fitted, test_x)
        accuracy = sum(p == y for p, y in zip(predictions, test_y, strict=True)) / len(test_y)
        tracker.log_metrics({"accuracy": accuracy}, step=settings.epochs)
        metrics: dict[str, object] = {
            "accuracy": accuracy,
            "n_train": len(train_y),
            "n_test": len(test_y),
            "framework": model.FRAMEWORK,
            "device": device,
            "seconds": round(time.perf_counter() - started, 3),
            "run": run_id,
            "tracking_run_id": tracker.run_id,
        }
        # Saved in an order that a stop or a failure cannot leave half done: the run's own
        # directory (complete or absent), then the registry, and only then OUTPUT_DIR's current
        # model. A stop asked for meanwhile waits until the end (stopping.saving).
        with stopping.saving():
            with new_run_dir(settings.runs_dir, run_id) as run_dir:
                model.save(fitted, run_dir / MODEL_FILE)
                (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
                record = provenance(metrics, dataset.source)
                (run_dir / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
            run_model = settings.runs_dir / run_id / MODEL_FILE
            registered = tracker.log_model(run_model, test_x[:5])
            atomic_write(settings.model_path, lambda path: shutil.copyfile(run_model, path))
            write_json(settings.metrics_path, metrics)
            settings.checkpoint_path.unlink(missing_ok=True)
        log.info("Kept this run in %s", settings.runs_dir / run_id)
        if registered:
            log.info(registered)
        log.info("Wrote %s and %s", settings.model_path, settings.metrics_path)
        log.info("Accuracy on held-out data: %.3f", accuracy)
    return metrics


def load_or_train(settings: Settings) -> model.Model:
    """The current model; trains it first when no artifact exists yet (a fresh container)."""
    path = settings.model_path
    if not path.exists():
        log.info("No model at %s yet: training one first.", path)
        train(settings)
    return model.load(path)
