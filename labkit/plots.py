"""Pictures of measurements: small matplotlib helpers so lab cells stay one call long."""
from __future__ import annotations


def _once(fig):
    """The figure, closed: a cell ending in the call shows it once, as its value. Left open, the inline
    backend would draw it a second time when the cell ends."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


def stacked_bars(labels: list[str], series: dict[str, list[float]], ylabel: str = "", title: str = ""):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    bottom = [0.0] * len(labels)
    for name, values in series.items():
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    for x, total in enumerate(bottom):
        ax.annotate(f"{total:.0f}", (x, total), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return _once(fig)


def layer_bars(images: dict[str, list[tuple[str, float]]], title: str = "What each image is made of"):
    """One horizontal bar per image, split into its layers (MB); the biggest layers are named."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.8 * len(images)))
    for y, (name, layers) in enumerate(images.items()):
        left = 0.0
        for label, mb in layers:
            if mb <= 0:
                continue
            ax.barh(y, mb, left=left, edgecolor="white")
            if mb > 0.08 * max(sum(m for _, m in ls) for ls in images.values()):
                ax.text(left + mb / 2, y, label[:22], ha="center", va="center", fontsize=7)
            left += mb
        ax.text(left, y, f" {left:.0f} MB", va="center", fontsize=9)
    ax.set_yticks(range(len(images)), list(images))
    ax.set_xlabel("MB")
    ax.set_title(title)
    fig.tight_layout()
    return _once(fig)


def steps_over_time(series: dict[str, list[tuple[float, float]]], ylabel: str = "", title: str = ""):
    """One step line per series of (seconds, value) points: a value holds until the next point."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    end = max((t for points in series.values() for t, _ in points), default=0) + 5
    for name, points in series.items():
        ts, vs = zip(*points)
        ax.step([*ts, end], [*vs, vs[-1]], where="post", label=name, linewidth=2)
    ax.set_xlabel("seconds")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", fontsize=8, bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return _once(fig)


def scaling(times: list[float], series: dict[str, list[float | None]], percent: dict[str, list[float | None]],
            target: float | None = None, shaded: list[bool] | None = None, title: str = ""):
    """Counts (replicas) as steps on the left axis, percentages (CPU against its request) as lines on the right,
    the target as a dashed line, and the samples where `shaded` is true (the load running) on a grey band."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4))
    end = (times[-1] if times else 0) + 3
    for name, values in series.items():
        points = [(t, v) for t, v in zip(times, values) if v is not None]
        if points:
            ts, vs = zip(*points)
            ax.step([*ts, end], [*vs, vs[-1]], where="post", label=name, linewidth=2)
    for i, on in enumerate(shaded or []):
        if on:
            ax.axvspan(times[i], times[i + 1] if i + 1 < len(times) else end, color="0.9", zorder=0, linewidth=0)
    ax.set_xlim(0, end)
    ax.set_ylim(0, max([v for vs in series.values() for v in vs if v is not None] + [1]) + 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("seconds" + (" (grey: load running)" if any(shaded or []) else ""))
    ax.set_ylabel("pods")
    right = ax.twinx()
    for name, values in percent.items():
        points = [(t, v) for t, v in zip(times, values) if v is not None]
        if points:
            ts, vs = zip(*points)
            right.plot(ts, vs, color="tab:red", marker=".", linewidth=1, label=name)
    if target is not None:
        right.axhline(target, color="tab:red", linestyle="--", linewidth=1, label=f"target {target:g}%")
    right.set_ylabel("% of the CPU requested")
    right.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="upper left", fontsize=8, bbox_to_anchor=(1.1, 1))
    ax.set_title(title)
    fig.tight_layout()
    return _once(fig)
