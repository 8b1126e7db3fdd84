"""A map of the winning strategy over total size x block length (``tempi model plot``).

matplotlib is optional: :func:`plot_map` raises ImportError when it is missing, and the
command turns that into a message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tempi.model import predict
from tempi.model.features import Shape, format_bytes, reference_stride
from tempi.model.profile import Profile
from tempi.model.table import log_points

COLORS = {"device": "#4c72b0", "oneshot": "#55a868", "staged": "#dd8452"}


def winners(
    profile: Profile,
    sizes: np.ndarray,
    blocks: np.ndarray,
    *,
    cuda_aware: bool,
    peer_local: bool,
    stride: float | None,
    levels: int,
) -> np.ndarray:
    """Index into :data:`~tempi.model.predict.STRATEGIES` of the pick per (block, size);
    -1 where the block exceeds the size."""
    allowed = predict.allowed(cuda_aware=cuda_aware)
    out = np.full((len(blocks), len(sizes)), -1)
    for j, block in enumerate(blocks):
        for i, size in enumerate(sizes):
            if block > size:
                continue
            s = Shape(int(size), block, stride or reference_stride(block), levels)
            times = predict.predict(profile, s, peer_local=peer_local, strategies=allowed)
            out[j, i] = predict.STRATEGIES.index(predict.fastest(times))
    return out


def caption(profile: Profile, win: np.ndarray, *, cuda_aware: bool, gpu: bool) -> str:
    """What the map shows and where its numbers come from, in words (under the map)."""
    shown = sorted({predict.STRATEGIES[int(w)] for w in win.ravel() if w >= 0})
    lines = ["White: the block would be longer than the whole message (no such layout)."]
    if len(shown) == 1:
        lines.append(f"One colour: {shown[0]} is predicted fastest for every layout shown.")
    if not cuda_aware:
        lines.append("device is not a candidate: this MPI cannot read device memory.")
    if profile.source.startswith("built-in"):
        lines.append(
            "No measured profile: these are tempi's built-in defaults"
            + (
                " (this machine has no GPU, so the device figures are constants; "
                "run tempi measure on a GPU machine for a real map)."
                if not gpu
                else "; run tempi measure for this machine's own map."
            )
        )
    return " ".join(lines)


def plot_map(
    profile: Profile,
    path: Path,
    *,
    cuda_aware: bool,
    peer_local: bool = True,
    stride: float | None = None,
    levels: int = 1,
    gpu: bool = True,
) -> Path:
    """Write the PNG map to ``path``, with a caption that explains it (``gpu``: whether
    this machine has one); ImportError without matplotlib."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    sizes = log_points(1 << 10, 1 << 28, 55)
    blocks = log_points(1, 1 << 16, 33)
    win = winners(
        profile,
        sizes,
        blocks,
        cuda_aware=cuda_aware,
        peer_local=peer_local,
        stride=stride,
        levels=levels,
    )
    cmap = ListedColormap([COLORS[s] for s in predict.STRATEGIES])
    fig, ax = plt.subplots(figsize=(7.5, 5.6))
    ax.pcolormesh(
        sizes,
        blocks,
        np.ma.masked_less(win, 0),
        cmap=cmap,
        vmin=-0.5,
        vmax=len(predict.STRATEGIES) - 0.5,
        shading="nearest",
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ticks = [1 << k for k in range(10, 29, 3)]
    ax.set_xticks(ticks, [format_bytes(t) for t in ticks])
    ticks = [1 << k for k in range(0, 17, 4)]
    ax.set_yticks(ticks, [format_bytes(t) for t in ticks])
    ax.set_xlabel("total size")
    ax.set_ylabel("block length")
    where = "same node" if peer_local else "other node"
    how = f"stride {stride:.0f} B" if stride else "stride 2 x block (>= 64 B)"
    ax.set_title(
        f"fastest strategy ({how}, {levels} level{'s' if levels > 1 else ''}, peer on {where}, "
        f"{'CUDA-aware' if cuda_aware else 'not CUDA-aware'})\n{profile.source}",
        fontsize=8,
    )
    shown = sorted({int(w) for w in win.ravel() if w >= 0})
    ax.legend(
        handles=[
            Patch(color=COLORS[predict.STRATEGIES[w]], label=predict.STRATEGIES[w]) for w in shown
        ],
        loc="upper left",
        fontsize=8,
    )
    text = textwrap.wrap(caption(profile, win, cuda_aware=cuda_aware, gpu=gpu), 110)
    fig.text(0.01, 0.01, "\n".join(text), fontsize=7, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.025 * len(text) + 0.01, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
