"""Plots of a lesson: emotion-state shares, attention and TEA share, intervention timeline."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vclass.env.observers import RecognitionLog
from vclass.io import atomic_write_bytes, save_figure
from vclass.sim.classroom import LessonRecord
from vclass.sim.emotion import FACTOR_NAMES, STATE_NAMES
from vclass.sim.faces import EXPRESSIONS

STATE_COLOURS = ("#d62728", "#ff7f0e", "#ffbb33", "#bcbd22", "#7fa3c8", "#1f4e99", "#9467bd", "#5b1a1a")
FACTOR_COLOURS = ("#2ca02c", "#17becf", "#e377c2", "#8c564b")


def _shade_segments(ax: plt.Axes, timeline: dict[str, np.ndarray], lines_only: bool = False) -> None:
    minutes, segments = timeline["minute"], timeline["segment"]
    dt = minutes[1] - minutes[0] if minutes.size > 1 else 1.0
    starts = np.flatnonzero(np.r_[True, segments[1:] != segments[:-1]])
    ends = np.r_[starts[1:], segments.size]
    for i, (a, b) in enumerate(zip(starts, ends)):
        if lines_only:
            ax.axvline(minutes[a], color="black", lw=0.8, ls="--", zorder=3)
        else:
            ax.axvspan(minutes[a], minutes[b - 1] + dt, color="0.92" if i % 2 else "white", zorder=0)
        ax.text(
            (minutes[a] + minutes[b - 1] + dt) / 2,
            1.01,
            segments[a],
            ha="center",
            va="bottom",
            fontsize=8,
            transform=ax.get_xaxis_transform(),
        )


def _margins(fig: plt.Figure, left: float = 0.8, right: float = 0.25, bottom: float = 0.55, top: float = 0.4) -> None:
    """Fixed margins, in inches, around a figure's axes: room for the tick labels, axis labels, title and an outside
    legend (``right``). Cheaper than ``bbox_inches="tight"``, which draws the figure a second time to measure it."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height)


def plot_emotions(timeline: dict[str, np.ndarray], path: Path) -> None:
    """Stacked shares of the eight emotional states among present students, over the lesson."""
    fig, ax = plt.subplots(figsize=(9, 4))
    shares = [timeline[f"share_{s}"] for s in STATE_NAMES]
    ax.stackplot(timeline["minute"], shares, labels=STATE_NAMES, colors=STATE_COLOURS, alpha=0.9)
    ax.set(
        xlabel="lesson time (min)",
        ylabel="share of present students",
        ylim=(0, 1),
        xlim=(timeline["minute"][0], timeline["minute"][-1]),
    )
    _shade_segments(ax, timeline, lines_only=True)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="true state")
    ax.set_title("Emotional states over the lesson", pad=16)
    _margins(fig, right=1.55, top=0.55)
    save_figure(fig, path, tight=False)


def plot_attention(timeline: dict[str, np.ndarray], path: Path) -> None:
    """Mean attention, participation and TEA share per tick, with lesson segments shaded."""
    fig, ax = plt.subplots(figsize=(9, 4))
    _shade_segments(ax, timeline)
    ax.plot(timeline["minute"], timeline["mean_attention"], label="mean attention", color="#1f77b4")
    ax.plot(timeline["minute"], timeline["participation"], label="participation (a >= threshold)", color="#2ca02c")
    ax.plot(timeline["minute"], timeline["tea_share"], label="TEA share", color="#d62728")
    ax.set(xlabel="lesson time (min)", ylabel="share / level", ylim=(0, 1.0))
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Attention, participation and time in the target emotion region", pad=16)
    _margins(fig, top=0.55)
    save_figure(fig, path, tight=False)


def plot_interventions(record: LessonRecord, path: Path) -> None:
    """Each incentive as a coloured mark (student vs time); check-ins as black crosses."""
    cfg = record.cfg
    fig, ax = plt.subplots(figsize=(9, 4.5))
    to_min = cfg.classroom.tick_seconds / 60.0
    if record.applications:
        ticks, students, factors, _ = (np.array(c) for c in zip(*record.applications))
        for m, name in enumerate(FACTOR_NAMES):
            sel = factors == m + 1
            if sel.any():
                ax.scatter(
                    ticks[sel] * to_min,
                    students[sel],
                    s=10,
                    marker="s",
                    color=FACTOR_COLOURS[m],
                    label=f"{name} ({sel.sum()})",
                )
    if record.checkins:
        ticks, students = (np.array(c) for c in zip(*record.checkins))
        ax.scatter(ticks * to_min, students, s=22, marker="x", color="black", label=f"check-in ({ticks.size})")
    if not record.applications and not record.checkins:
        ax.text(0.5, 0.5, "no interventions in this lesson", ha="center", va="center", transform=ax.transAxes)
    ax.set(
        xlabel="lesson time (min)", ylabel="student", xlim=(0, cfg.classroom.minutes), ylim=(-1, record.population.size)
    )
    if record.applications or record.checkins:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    ax.set_title("Interventions")
    _margins(fig, right=2.05 if record.applications or record.checkins else 0.25)
    save_figure(fig, path, tight=False)


def plot_strengths(record: LessonRecord, path: Path) -> None:
    """How strong the applied incentives were (the habituated I0, S3 eq 12): a histogram per factor, stacked.
    A strategy that repeats a factor within the habituation window pays full price for a fraction of its effect."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    if record.applications:
        strength = np.array([a[3] for a in record.applications])
        factor = np.array([a[2] for a in record.applications])
        edges = np.linspace(0.0, 1.0, 21).tolist()
        stacks = [strength[factor == m + 1] for m in range(len(FACTOR_NAMES))]
        labels = [f"{name} ({len(s)})" for name, s in zip(FACTOR_NAMES, stacks)]
        ax.hist(stacks, bins=edges, stacked=True, color=FACTOR_COLOURS, label=labels)
        weak = float(np.mean(strength < 0.1))
        ax.axvline(0.1, color="black", lw=0.8, ls="--")
        ax.set_title(f"Applications by strength: {len(strength)} in all, {weak:.0%} below 0.1")
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no incentives in this lesson", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("Applications by strength")
    ax.set(
        xlabel="strength I0 = h^n (n earlier uses within the habituation window)", ylabel="applications", xlim=(0, 1)
    )
    _margins(fig)
    save_figure(fig, path, tight=False)


def plot_beliefs(record: LessonRecord, log: RecognitionLog, path: Path) -> None:
    """Belief over the eight states (shading) against the true state (line) for the tracked students."""
    tracked = log.tracked
    n_ticks, k, _ = tracked.shape
    minutes = np.arange(n_ticks) * record.cfg.classroom.tick_seconds / 60.0
    fig, axes = plt.subplots(k, 1, figsize=(9, 1.9 * k), sharex=True, squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.imshow(
            tracked[:, i].T,
            aspect="auto",
            origin="lower",
            cmap="Greys",
            vmin=0,
            vmax=1,
            extent=(minutes[0], minutes[-1] + minutes[1] - minutes[0], -0.5, 7.5),
        )
        absent = ~record.present[:, i]
        truth = np.where(absent, np.nan, record.state[:, i].astype(float))
        ax.step(minutes, truth, where="post", color="#d62728", lw=1.2, label="true state")
        no_frame = log.recognized[:, i] < 0
        if no_frame.any():
            ax.scatter(
                minutes[no_frame],
                np.full(no_frame.sum(), 7.8),
                marker="|",
                color="#1f77b4",
                s=12,
                label="no frame",
                clip_on=False,
            )
        ax.set_yticks(range(8), [s[:4] for s in STATE_NAMES], fontsize=7)
        ax.set_ylabel(f"student {i}", fontsize=8)
        if i == 0:
            ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("lesson time (min)")
    fig.suptitle("Belief (grey: probability) vs true state (red)")
    _margins(fig, top=0.45, bottom=0.5)
    save_figure(fig, path, tight=False)


def plot_frames(samples: list[dict], path: Path, scale: int = 3) -> None:
    """A grid of rendered frames with the shown and the recognized expression, drawn as one image with Pillow
    (no figure: a tenth of what matplotlib takes for the same mosaic), each frame scaled up ``scale`` times and
    labelled below its tile; a misrecognized frame's label is red."""
    cols, gap, line = 6, 12, 13
    font = ImageFont.load_default(size=11)
    rows = int(np.ceil(len(samples) / cols))
    side = samples[0]["frame"].shape[0] * scale
    title_h = 26
    tile_w, tile_h = side + gap, side + 3 * line + gap
    image = Image.new("RGB", (cols * tile_w + gap, title_h + rows * tile_h), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (gap, 7), "Frames in the loop (red label: misrecognized; last line: true state, tick)", fill="black", font=font
    )
    for i, sample in enumerate(samples):
        left, top = gap + (i % cols) * tile_w, title_h + (i // cols) * tile_h
        frame = np.asarray(sample["frame"], dtype=np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
        image.paste(Image.fromarray(frame, mode="L"), (left, top))
        ok = sample["expression"] == sample["recognized"]
        lines = (
            f"shown {EXPRESSIONS[sample['expression']]}",
            f"recog. {EXPRESSIONS[sample['recognized']]}",
            f"{STATE_NAMES[sample['state']]}, t={sample['tick']}",
        )
        for j, text in enumerate(lines):
            width = draw.textlength(text, font=font)
            draw.text(
                (left + (side - width) / 2, top + side + 2 + j * line),
                text,
                fill="black" if ok else "#d62728",
                font=font,
            )
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)
    atomic_write_bytes(path, buf.getvalue())


def plot_hmm_fit(fitted_a: np.ndarray, run_a: np.ndarray, fitted_e: np.ndarray, run_e: np.ndarray, path: Path) -> None:
    """Heatmaps of fitted against measured transitions and emissions."""

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    panels = (
        (fitted_a, "transitions, Baum-Welch", STATE_NAMES),
        (run_a, "transitions, true states", STATE_NAMES),
        (fitted_e, "emissions, Baum-Welch", EXPRESSIONS),
        (run_e, "emissions, measured", EXPRESSIONS),
    )
    for ax, (matrix, title, cols) in zip(axes, panels):
        image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_yticks(range(len(STATE_NAMES)), [s[:4] for s in STATE_NAMES], fontsize=7)
        ax.set_xticks(range(len(cols)), [c[:4] for c in cols], fontsize=7, rotation=90)
    fig.colorbar(image, ax=axes, shrink=0.8)
    save_figure(fig, path)
