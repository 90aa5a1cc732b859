"""Training a Keras model: chronological validation tail, early stopping, fixed seeds."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from candlecast.core.errors import ModelError
from candlecast.core.models.deadline import Deadline, current_deadline


@dataclass
class TrainingReport:
    epochs: int
    best_epoch: int
    train_loss: float
    val_loss: float | None
    seconds: float
    samples: int
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def samples_per_second(self) -> float:
        return self.samples * self.epochs / self.seconds if self.seconds > 0 else 0.0


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TensorFlow ops."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    with contextlib.suppress(AttributeError):  # older TensorFlow has no switch
        tf.config.experimental.enable_op_determinism()


_TRAINING_TURN = threading.Lock()
_construction_lock = threading.Lock()


def training_turn() -> threading.Lock:
    """The lock to hold for a whole training (seeds, build, fit): trainings in one process take
    turns.

    TensorFlow's, Keras' and NumPy's seeds are process-wide, so two trainings at once would
    draw from the same generators and the run would no longer be reproducible; trainings in
    parallel are Dask's job (one per worker process). Nothing else waits for it: loading a
    model, forecasting and backtesting with a trained one draw no random numbers (a load
    builds its layers under `construction_turn`).

    The lock itself, used directly in a `with` (no generator around it): a task's timeout
    arrives as an exception raised in its thread at any point, even while it waits for the
    turn, and only a plain lock's own `with` releases it whatever the point was."""
    return _TRAINING_TURN


def construction_turn() -> threading.Lock:
    """The lock to hold while Keras builds layers: a build inside `deterministic_construction`,
    or a file being loaded (whose unseeded draws must not land inside another thread's
    deterministic build). Used directly in a `with`, as `training_turn`."""
    return _construction_lock


@contextlib.contextmanager
def deterministic_construction(seed: int) -> Iterator[None]:
    """Seeds for whatever a model build draws unseeded.

    Keras gives unseeded initializers and dropout layers a seed from Python's global `random`
    at construction; any other thread of the process (Prefect's event client pings) may advance
    that generator, so the same seed could give different weights. While the block runs, those
    draws come from a private generator seeded with `seed`. Hold `construction_turn()` around
    it: the patched generator is the process's while the block runs.
    """
    from keras.src import backend
    from keras.src.random import seed_generator

    draws = random.Random(seed)

    def make_default_seed() -> int:
        return draws.randint(1, int(1e9))

    modules = [m for m in (seed_generator, backend.random) if hasattr(m, "make_default_seed")]
    saved = [(module, module.make_default_seed) for module in modules]
    for module in modules:
        module.make_default_seed = make_default_seed
    try:
        yield
    finally:
        for module, original in saved:
            module.make_default_seed = original


def configure_threads(threads: int | None) -> None:
    """Size TensorFlow's pools (before TF starts executing; later calls are no-ops)."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:
        pass  # already initialised: the pools keep their size


@dataclass
class TrainingSet:
    """Samples ready for Keras: inputs by name, standardised targets, sample weights (0 for
    samples whose targets were gap-filled), and which samples train and which validate."""

    inputs: dict[str, np.ndarray]
    targets: np.ndarray
    weights: np.ndarray
    train_idx: np.ndarray
    val_idx: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def concatenate(cls, parts: list[TrainingSet]) -> TrainingSet:
        """Several series' samples as one set; each keeps its own validation tail."""
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        return cls(
            {k: np.concatenate([p.inputs[k] for p in parts]) for k in parts[0].inputs},
            np.concatenate([p.targets for p in parts]),
            np.concatenate([p.weights for p in parts]),
            np.concatenate([p.train_idx + o for p, o in zip(parts, offsets, strict=True)]),
            np.concatenate([p.val_idx + o for p, o in zip(parts, offsets, strict=True)]),
        )


def split_validation(n: int, fraction: float, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Chronological split: the last `fraction` of samples validate, `gap` samples dropped
    between the parts so validation targets never overlap training targets."""
    n_val = round(n * fraction)
    if fraction <= 0 or n_val < 1 or n - n_val - gap < 1:
        return np.arange(n), np.arange(0)
    return np.arange(n - n_val - gap), np.arange(n - n_val, n)


def _dataset(
    inputs: dict[str, np.ndarray],
    targets: np.ndarray,
    weights: np.ndarray,
    idx: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
) -> Any:
    """A tf.data pipeline over the chosen samples; shuffling is seeded by the global seed, so
    the same seed gives the same batches."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(
        ({k: v[idx] for k, v in inputs.items()}, targets[idx], weights[idx])
    )
    if shuffle:
        data = data.shuffle(len(idx), reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(2)


TRAINING_GRAPHS = ("train_function", "test_function", "predict_function")
"""The traced step functions Keras keeps on a model after `fit` (and rebuilds when needed)."""


def _deadline_stop(deadline: Deadline) -> Any:
    """A Keras callback that ends `fit` after the batch in which `deadline` passed; its
    `stopped_in` is then that (1-based) epoch. Keras finishes the epoch's bookkeeping, so the
    stop is clean (see `core.models.deadline`)."""
    import keras

    class DeadlineStop(keras.callbacks.Callback):
        # it only reads the clock and sets a flag: Keras may keep running batch callbacks off
        # the training loop's thread (a batch hook of an unmarked callback would stop that)
        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.stopped_in: int | None = None

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if self.stopped_in is None and deadline.passed():
                self.stopped_in = self.epoch
                self.model.stop_training = True

    return DeadlineStop()


@contextlib.contextmanager
def released_custom_gradients() -> Iterator[None]:
    """Unregister the gradient functions that tracing a training step registered while the
    block ran.

    Keras' traced step goes through `tf.custom_gradient`, and each trace registers its gradient
    function in TensorFlow's process-wide gradient registry as `CustomGradient-<uid>`, never to
    be removed: two entries per `fit`, each holding the traced step's closure (its graph and
    captured tensors). A 16-series run traces 128 such steps, and a serving process more every
    day. The entries serve only while the step's gradient is being built, which is over when
    `fit` returns (a later `fit` traces again and registers its own). Only entries added during
    the block are dropped; trainings take turns, so they are this training's. Without the
    registry's private table (another TensorFlow version) nothing is dropped."""
    from tensorflow.python.framework import ops

    table = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(table, dict):
        yield
        return
    before = set(table)
    try:
        yield
    finally:
        for name in [n for n in table if n not in before]:
            if name.startswith("CustomGradient-"):
                table.pop(name, None)


def release_training_graphs(model: Any) -> None:
    """Drop the training and validation step graphs a `fit` traced and left on the model: a
    trained network is kept (model cache, the run's forecasts) for its weights and its own
    inference graph only, and each kept step graph cost ~10 MB (a full 16-series run keeps
    128). A later `fit` (a warm start) traces them again."""
    for name in TRAINING_GRAPHS:
        if getattr(model, name, None) is not None:
            setattr(model, name, None)


def fit(
    model: Any,
    inputs: dict[str, np.ndarray],
    targets: np.ndarray,
    weights: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    loss: Any,
    optimizer: Any,
    epochs: int,
    batch_size: int,
    patience: int,
) -> TrainingReport:
    """Train in place on `train_idx`; with validation samples, early stopping restores the
    best weights by validation loss."""
    import keras

    if len(train_idx) < 2:
        raise ModelError(
            f"only {len(train_idx)} training sample(s): need at least 2 (more history, "
            "smaller window)"
        )
    deadline = current_deadline()
    if deadline is not None:
        deadline.check("before the training started")
    model.compile(optimizer=optimizer, loss=loss)
    train_data = _dataset(inputs, targets, weights, train_idx, batch_size, shuffle=True)
    validation = None
    callbacks = []
    if len(val_idx):
        validation = _dataset(inputs, targets, weights, val_idx, batch_size, shuffle=False)
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    stop = _deadline_stop(deadline) if deadline is not None else None
    if stop is not None:
        callbacks.append(stop)
    started = time.perf_counter()
    with released_custom_gradients():
        history = model.fit(
            train_data,
            validation_data=validation,
            epochs=epochs,
            verbose=0,
            shuffle=False,  # the dataset shuffles itself, seeded
            callbacks=callbacks,
        )
    seconds = time.perf_counter() - started
    release_training_graphs(model)
    if stop is not None and stop.stopped_in is not None:
        raise deadline.expired(f"in epoch {stop.stopped_in}")
    losses = {k: [float(x) for x in v] for k, v in history.history.items()}
    train_loss = losses.get("loss", [float("nan")])
    val_loss = losses.get("val_loss")
    best = int(np.nanargmin(val_loss)) if val_loss else len(train_loss) - 1
    if not np.isfinite(train_loss[-1]):
        raise ModelError("training diverged (loss is NaN or infinite); lower learning_rate")
    return TrainingReport(
        epochs=len(train_loss),
        best_epoch=best + 1,
        train_loss=train_loss[best],
        val_loss=val_loss[best] if val_loss else None,
        seconds=seconds,
        samples=len(train_idx),
        history=losses,
    )
