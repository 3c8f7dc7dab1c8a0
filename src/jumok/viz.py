"""Plots of attention weights and training runs, written straight to image files.

Figures are plain :class:`matplotlib.figure.Figure` objects drawn on an Agg canvas: no
pyplot, no global figure state, no windows, safe in headless runs. Every save is
atomic (a temporary file in the destination directory, then :func:`os.replace`), so a
reader never sees half a PNG. Each function returns the :class:`~pathlib.Path` written;
the format follows the path's suffix (PNG when there is none).

Attention weights are an array of shape ``(T_out, S)``: row ``t`` is the distribution over
the ``S`` source positions used to emit output token ``t``, each value in ``[0, 1]``.
History records are dicts with ``epoch``, ``train_loss`` and ``valid_exact_match``
(a fraction in ``[0, 1]``, plotted as %).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from jumok.atomic import atomic_open

__all__ = [
    "attention_figure",
    "save_figure",
    "plot_attention",
    "plot_attention_grid",
    "plot_learning_curves",
    "plot_comparison",
    "display_token",
]

CMAP = "viridis"  # perceptually uniform, readable in greyscale print
CELL_INCHES = 0.32  # size of one attention cell in a single-example plot
MAX_SIDE_INCHES = 28.0


def display_token(token) -> str:
    """Label for a token with whitespace made visible: ' ' -> '␣', '' -> '∅'."""
    text = str(token)
    if text == "":
        return "∅"
    return text.replace(" ", "␣").replace("\t", "⇥").replace("\n", "↵")


def save_figure(fig: Figure, path) -> Path:
    """Render ``fig`` to ``path`` atomically and return the path."""
    path = Path(path)
    FigureCanvasAgg(fig)  # attach an Agg canvas; no pyplot involved
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format=(path.suffix or ".png").lstrip(".").lower(), dpi=110)
    return path


def _check_attention(weights, source_tokens, output_tokens, name="weights") -> np.ndarray:
    """Return ``weights`` as a float array after checking it matches the token lists."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2:
        raise ValueError(f"{name} must be 2-D (T_out, S), got shape {weights.shape}")
    expected = (len(output_tokens), len(source_tokens))
    if weights.shape != expected:
        raise ValueError(
            f"{name} has shape {weights.shape} but there are {expected[0]} output tokens "
            f"and {expected[1]} source tokens (expected shape (T_out, S) = {expected})"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return weights


def _tick_fontsize(count: int) -> float:
    """10 pt while cells are big enough for it; smaller once the figure size is capped."""
    return 10.0 if count <= 70 else max(5.0, 10.0 * 70 / count)


def _draw_attention(fig, ax, weights, source_tokens, output_tokens, title, colorbar=True):
    """Heatmap of ``weights`` on ``ax``: source along x, output along y."""
    image = ax.imshow(weights, cmap=CMAP, vmin=0.0, vmax=1.0, aspect="equal",
                      interpolation="nearest")
    source_labels = [display_token(t) for t in source_tokens]
    output_labels = [display_token(t) for t in output_tokens]
    ax.set_xticks(range(len(source_labels)), source_labels,
                  fontsize=_tick_fontsize(len(source_labels)),
                  rotation=0 if max(map(len, source_labels), default=0) <= 2 else 90)
    ax.set_yticks(range(len(output_labels)), output_labels,
                  fontsize=_tick_fontsize(len(output_labels)))
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False, length=0)
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(image, ax=ax, label="attention weight", shrink=0.9)
    return image


def attention_figure(weights, source_tokens: Sequence, output_tokens: Sequence,
                     title: str | None = None) -> Figure:
    """The Figure of one example's attention weights, shape ``(len(output), len(source))``."""
    weights = _check_attention(weights, source_tokens, output_tokens)
    n_out, n_src = weights.shape
    width = min(MAX_SIDE_INCHES, max(4.5, 2.6 + CELL_INCHES * n_src))
    height = min(MAX_SIDE_INCHES, max(3.5, 1.8 + CELL_INCHES * n_out))
    fig = Figure(figsize=(width, height), layout="constrained")
    _draw_attention(fig, fig.add_subplot(), weights, source_tokens, output_tokens, title)
    return fig


def plot_attention(weights, source_tokens: Sequence, output_tokens: Sequence, path,
                   title: str | None = None) -> Path:
    """Heatmap of one example's attention weights, shape ``(len(output), len(source))``."""
    return save_figure(attention_figure(weights, source_tokens, output_tokens, title), path)


def plot_attention_grid(examples: Sequence, path, columns: int = 2) -> Path:
    """Several attention heatmaps in a grid, one shared 0..1 colour scale, written to `path`.

    ``examples`` is a list of ``(weights, source_tokens, output_tokens, title)``.
    """
    return save_figure(attention_grid_figure(examples, columns), path)


def attention_grid_figure(examples: Sequence, columns: int = 2, title: str | None = None) -> Figure:
    """The Figure of several attention heatmaps in a grid (see `plot_attention_grid`), with
    `title` above them all."""
    if not examples:
        raise ValueError("plot_attention_grid needs at least one example")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    checked = []
    for index, example in enumerate(examples):
        if len(example) != 4:
            raise ValueError(f"example {index} must be (weights, source_tokens, "
                             f"output_tokens, title), got {len(example)} items")
        weights, source, output, name = example
        checked.append((_check_attention(weights, source, output, f"example {index} weights"),
                        source, output, name))
    columns = min(columns, len(checked))
    rows = math.ceil(len(checked) / columns)
    max_src = max(w.shape[1] for w, *_ in checked)
    max_out = max(w.shape[0] for w, *_ in checked)
    cell = 0.26
    width = min(MAX_SIDE_INCHES, columns * max(3.5, 1.6 + cell * max_src) + 1.2)
    height = min(MAX_SIDE_INCHES, rows * max(3.0, 1.8 + cell * max_out))
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    image = None
    for ax, (weights, source, output, name) in zip(axes.flat, checked):
        image = _draw_attention(fig, ax, weights, source, output, name, colorbar=False)
    for ax in axes.flat[len(checked):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes.ravel().tolist(), label="attention weight", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def _column(history: Sequence[Mapping], key: str, where: str) -> list:
    for index, record in enumerate(history):
        if key not in record:
            raise ValueError(f"{where}: record {index} has no {key!r} (keys: {sorted(record)})")
    return [record[key] for record in history]


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.35)


def plot_learning_curves(history: Sequence[Mapping], path) -> Path:
    """Two panels: training loss per epoch, validation exact match (%) per epoch."""
    if not history:
        raise ValueError("plot_learning_curves needs a non-empty history")
    epochs = _column(history, "epoch", "history")
    loss = _column(history, "train_loss", "history")
    exact = [100.0 * value for value in _column(history, "valid_exact_match", "history")]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, exact_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, loss, marker="o", markersize=3, color="tab:blue")
    loss_ax.set_ylabel("training loss (cross-entropy per token)")
    loss_ax.set_title("Training loss")
    _epoch_axis(loss_ax)
    exact_ax.plot(epochs, exact, marker="o", markersize=3, color="tab:green")
    exact_ax.set_ylabel("validation exact match (%)")
    exact_ax.set_ylim(-2, 102)
    exact_ax.set_title("Validation exact match")
    _epoch_axis(exact_ax)
    return save_figure(fig, path)


def seed_spread(histories: Sequence[Sequence[Mapping]], metric: str = "valid_exact_match",
                name: str = "") -> list[tuple]:
    """(epoch, median, lowest, highest) of ``metric`` over several seeds' histories, one
    tuple per epoch that any of them reached (a run that stopped earlier counts only in
    the epochs it has). ``name`` names them in errors."""
    values: dict[int, list] = {}
    for index, history in enumerate(histories):
        where = f"history {name!r}" + (f", seed run {index}" if len(histories) > 1 else "")
        for epoch, value in zip(_column(history, "epoch", where), _column(history, metric, where)):
            values.setdefault(epoch, []).append(value)
    return [(epoch, float(np.median(v)), min(v), max(v)) for epoch, v in sorted(values.items())]


def plot_comparison(histories: Mapping[str, Sequence], path,
                    metric: str = "valid_exact_match", title: str | None = None,
                    percent: bool = True) -> Path:
    """One line per model (name -> history) of ``metric`` against epoch.

    A model may also map to a list of histories, one per seed: its line is then the median
    over the seeds, with the range from the lowest to the highest seed shaded.
    With ``percent`` (the default) values are fractions in ``[0, 1]`` plotted as 0..100 %.
    """
    if not histories:
        raise ValueError("plot_comparison needs at least one history")
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    markers = "osD^vP*Xh<>"
    scale = 100.0 if percent else 1.0
    for index, (name, history) in enumerate(histories.items()):
        if not history:
            raise ValueError(f"history for {name!r} is empty")
        runs = history if isinstance(history[0], Sequence) else [history]
        epochs, median, low, high = zip(*seed_spread(runs, metric, name))
        label = str(name) if len(runs) == 1 else f"{name} (median of {len(runs)} seeds)"
        line, = ax.plot(epochs, [scale * v for v in median], marker=markers[index % len(markers)], markersize=4,
                        label=label)
        if len(runs) > 1:
            ax.fill_between(epochs, [scale * v for v in low], [scale * v for v in high], color=line.get_color(),
                            alpha=0.15, linewidth=0)
    label = metric.replace("_", " ")
    if percent:
        ax.set_ylim(-2, 102)
        label += " (%)"
    ax.set_ylabel(label)
    ax.set_title(title or f"{metric.replace('_', ' ')} by epoch")
    _epoch_axis(ax)
    ax.legend(title="model")
    return save_figure(fig, path)
