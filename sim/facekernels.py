"""The face renderer's pixel loops, compiled by numba: the same frames as :mod:`vclass.sim.faces`' numpy painters,
byte for byte, at a fraction of the cost.

The numpy painters spend most of a render in per-call overhead: a 30-face frame batch takes about 300 small array
operations. Here every part of every face is painted by one compiled loop over its pixel window. Each loop does, in
float32 and in the same order, the operations the numpy painter does (a sum the numpy code forms by a matrix
product with ones is one rounded float32 sum here; a Python float the numpy code mixes into float32 arrays is the
same float32 constant), so the frames are identical; ``tests/test_faces.py`` compares the two renderers bit for bit.
The per-face geometry (a few values per face) stays in numpy, in :mod:`vclass.sim.faces`.

Every kernel paints into ``frames`` (m, size, size) float32 in place. A window is given by its top-left pixel
``row0``, ``col0`` (per face) and its height and width; its pixel centres are at image coordinates
``(col0 + j + 0.5) / px - 1`` computed in float64 and rounded to float32, as :func:`vclass.sim.faces._window` does.
Compiled code is cached beside this file (numba's ``cache=True``), so only the first render on a machine compiles.
"""

from __future__ import annotations

import numpy as np
from numba import njit

F32 = np.float32
_HALF, _NEG_CUT = F32(0.5), F32(-9.0)


@njit(cache=True, inline="always")
def _coord(origin: int, index: int, px: float) -> np.float32:
    """Image coordinate of pixel ``origin + index`` (float64 arithmetic, rounded once to float32)."""
    return np.float32((origin + (index + 0.5)) / px - 1.0)


@njit(cache=True, inline="always")
def _unit(x: np.float32) -> np.float32:
    """``clip(x, 0, 1)``."""
    if x < 0:
        return np.float32(0.0)
    if x > 1:
        return np.float32(1.0)
    return x


@njit(cache=True, inline="always")
def _cut(t: np.float32, half_width: np.float32) -> np.float32:
    """``half_width`` where ``|t| < 1``, else -9 (ends a band)."""
    return half_width if abs(t) < 1 else _NEG_CUT


@njit(cache=True, inline="always")
def _band_varying(coord: np.float32, middle: np.float32, half_width: np.float32, pxf: np.float32) -> np.float32:
    """Coverage of ``|coord - middle| < half_width`` when the middle varies along the window (the numpy painters'
    ``coord * px - middle * px`` form)."""
    inside = half_width * pxf + _HALF
    return _unit(inside - abs(coord * pxf + (-middle) * pxf))


@njit(cache=True, inline="always")
def _band_fixed(coord: np.float32, middle: np.float32, half_width: np.float32, pxf: np.float32) -> np.float32:
    """Coverage of ``|coord - middle| < half_width`` for one middle per face (the ``|coord - middle| * -px`` form)."""
    inside = half_width * pxf + _HALF
    return _unit(inside + abs(coord - middle) * (-pxf))


@njit(cache=True, nogil=True)
def paint_head(
    frames: np.ndarray,
    px: float,
    grid: np.ndarray,
    hair_cx: np.ndarray,
    hair_cy: np.ndarray,
    hair_rx: np.ndarray,
    hair_ry: np.ndarray,
    hair_tone: np.ndarray,
    background: np.ndarray,
    face_x: np.ndarray,
    face_y: np.ndarray,
    half_w: np.ndarray,
    half_h: np.ndarray,
    jaw_taper: np.ndarray,
    hairline_v: np.ndarray,
    skin_tone: np.ndarray,
) -> None:
    """Background, hair and skin of whole frames, row by row as horizontal spans."""
    n, size = frames.shape[0], frames.shape[1]
    pxf = np.float32(px)
    one, zero = np.float32(1.0), np.float32(0.0)
    hair_inside = np.empty(size, dtype=np.float32)
    skin_inside = np.empty(size, dtype=np.float32)
    hair_distance = np.empty(size, dtype=np.float32)
    skin_distance = np.empty(size, dtype=np.float32)
    for i in range(n):
        for r in range(size):
            y = grid[r]
            q = (y - hair_cy[i]) / hair_ry[i]
            span = hair_rx[i] * np.sqrt(max(one - q * q, zero))
            hair_inside[r] = (span if span > 0 else np.float32(-1.0)) * pxf + _HALF
            v = (y - face_y[i]) / half_h[i]
            vc = min(max(v, zero), one)
            jaw = one - jaw_taper[i] * (vc * vc)
            head = np.sqrt(max(one - v * v, zero)) * jaw
            hairline = np.sqrt(max(v - hairline_v[i], zero) / np.float32(0.35))
            span = half_w[i] * min(head, hairline)
            skin_inside[r] = (span if span > 0 else np.float32(-1.0)) * pxf + _HALF
        hair_delta = hair_tone[i] - background[i]
        for c in range(size):
            hair_distance[c] = abs(grid[c] - hair_cx[i]) * (-pxf)
            skin_distance[c] = abs(grid[c] - face_x[i]) * (-pxf)
        for r in range(size):
            pixels = frames[i, r]
            for c in range(size):
                value = _unit(hair_inside[r] + hair_distance[c]) * hair_delta + background[i]
                pixels[c] = value + (skin_tone[i] - value) * _unit(skin_inside[r] + skin_distance[c])


@njit(cache=True, inline="always")
def _coords(origin: int, n: int, px: float, out: np.ndarray) -> np.ndarray:
    """Image coordinates of pixels ``origin .. origin + n - 1`` into ``out[:n]``."""
    for index in range(n):
        out[index] = _coord(origin, index, px)
    return out


@njit(cache=True, nogil=True)
def paint_brow(
    frames: np.ndarray,
    px: float,
    row0: np.ndarray,
    col0: np.ndarray,
    h: int,
    w: int,
    side: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    half_len: np.ndarray,
    tilt: np.ndarray,
    arch: np.ndarray,
    thickness: np.ndarray,
    tone: np.ndarray,
) -> None:
    """One brow of every face: a tapered thick curve, thicker and tilted at the inner end."""
    pxf = np.float32(px)
    ys = np.empty(h, dtype=np.float32)
    centre = np.empty(w, dtype=np.float32)
    half = np.empty(w, dtype=np.float32)
    for i in range(frames.shape[0]):
        _coords(row0[i], h, px, ys)
        for j in range(w):
            t_in = (-side[i]) * (_coord(col0[i], j, px) - bx[i]) / half_len[i]
            centre[j] = (by[i] - tilt[i] * t_in) + arch[i] * (t_in * t_in)
            half[j] = _cut(t_in, thickness[i] * (np.float32(0.7) + np.float32(0.3) * t_in))
        for k in range(h):
            row = frames[i, row0[i] + k, col0[i] : col0[i] + w]
            for j in range(w):
                value = row[j]
                row[j] = value + (tone[i] - value) * _band_varying(ys[k], centre[j], half[j], pxf)


@njit(cache=True, nogil=True)
def paint_eye(
    frames: np.ndarray,
    px: float,
    row0: np.ndarray,
    col0: np.ndarray,
    h: int,
    w: int,
    ex: np.ndarray,
    ew: np.ndarray,
    ey: np.ndarray,
    upper_h: np.ndarray,
    half_open: np.ndarray,
    iris_x: np.ndarray,
    iris_r: np.ndarray,
    droop: np.ndarray,
    sclera_tone: np.ndarray,
    lid_tone: np.ndarray,
    lid_half: np.float32,
) -> None:
    """One eye of every face: the opening (sclera), the iris inside it, the upper-lid line."""
    pxf = np.float32(px)
    iris_tone = np.float32(0.08)
    xs = np.empty(w, dtype=np.float32)
    open_middle = np.empty(w, dtype=np.float32)
    open_half = np.empty(w, dtype=np.float32)
    lid_middle = np.empty(w, dtype=np.float32)
    lid_cut = np.empty(w, dtype=np.float32)
    iris_col = np.empty(w, dtype=np.float32)
    for i in range(frames.shape[0]):
        k_iris = min(iris_r[i], iris_r[i]) * np.float32(px / 2)
        for j in range(w):
            x = xs[j] = _coord(col0[i], j, px)
            t = (x - ex[i]) / ew[i]
            profile = max(np.float32(1.0) - t * t, np.float32(0.0))
            top = ey[i] - upper_h[i] * profile
            open_middle[j] = top + half_open[i] * profile
            open_half[j] = _cut(t, half_open[i] * profile)
            lid_middle[j] = top + droop[i] * profile
            lid_cut[j] = _cut(t, lid_half)
            dx = (x - iris_x[i]) / iris_r[i]
            iris_col[j] = (_HALF + k_iris) - k_iris * (dx * dx)
        for k in range(h):
            y = _coord(row0[i], k, px)
            dy = (y - ey[i]) / iris_r[i]
            iris_row = (-k_iris) * (dy * dy)
            row = frames[i, row0[i] + k, col0[i] : col0[i] + w]
            for j in range(w):
                value = row[j]
                opening = _band_varying(y, open_middle[j], open_half[j], pxf)
                value = value + (sclera_tone[i] - value) * opening
                iris = _unit(iris_row + iris_col[j]) * opening
                value = value + (iris_tone - value) * iris
                row[j] = value + (lid_tone[i] - value) * _band_varying(y, lid_middle[j], lid_cut[j], pxf)


@njit(cache=True, nogil=True)
def paint_nose(
    frames: np.ndarray,
    px: float,
    row0: np.ndarray,
    col0: np.ndarray,
    h: int,
    w: int,
    nostril_x: np.ndarray,
    nostril_y: np.ndarray,
    nostril_r: np.ndarray,
    nostril_ry: np.ndarray,
    dark: np.ndarray,
    ridge_top: np.ndarray,
    ridge_x: np.ndarray,
    ridge_half: np.float32,
    ridge_tone: np.ndarray,
    nose_x: np.ndarray,
    wrinkle_w: np.ndarray,
    wrinkle_half: np.float32,
    wrinkle_y: np.ndarray,
    strength: np.ndarray,
) -> None:
    """Every face's nose: both nostrils, the ridge shadow, then two wrinkles (``nostril_x`` (m, 2): left, right;
    ``wrinkle_y`` (m, 2): the two wrinkle rows)."""
    pxf = np.float32(px)
    xs = np.empty(w, dtype=np.float32)
    cut = np.empty(w, dtype=np.float32)
    nostril_col = np.empty((2, w), dtype=np.float32)
    for i in range(frames.shape[0]):
        k_nostril = min(nostril_r[i], nostril_ry[i]) * np.float32(px / 2)
        for j in range(w):
            x = xs[j] = _coord(col0[i], j, px)
            cut[j] = _cut((x - nose_x[i]) / wrinkle_w[i], wrinkle_half)
            for s in range(2):
                dx = (x - nostril_x[i, s]) / nostril_r[i]
                nostril_col[s, j] = (_HALF + k_nostril) - k_nostril * (dx * dx)
        for k in range(h):
            y = _coord(row0[i], k, px)
            dy = (y - nostril_y[i]) / nostril_ry[i]
            nostril_row = (-k_nostril) * (dy * dy)
            ridge_w = ridge_half if (y > ridge_top[i] and y < nostril_y[i]) else np.float32(-1.0)
            row = frames[i, row0[i] + k, col0[i] : col0[i] + w]
            for j in range(w):
                value = row[j]
                for s in range(2):
                    value = value + (dark[i] - value) * _unit(nostril_row + nostril_col[s, j])
                value = value + (ridge_tone[i] - value) * _band_fixed(xs[j], ridge_x[i], ridge_w, pxf)
                for s in range(2):
                    wrinkle = _band_fixed(y, wrinkle_y[i, s], cut[j], pxf) * strength[i]
                    value = value + (dark[i] - value) * wrinkle
                row[j] = value


@njit(cache=True, nogil=True)
def paint_mouth(
    frames: np.ndarray,
    px: float,
    row0: np.ndarray,
    col0: np.ndarray,
    h: int,
    w: int,
    mouth_x: np.ndarray,
    half_width: np.ndarray,
    seam_y: np.ndarray,
    smile: np.ndarray,
    asymmetry_lift: np.ndarray,
    open_down_h: np.ndarray,
    open_up_h: np.ndarray,
    lip_raise: np.ndarray,
    asymmetry: np.ndarray,
    lip_h: np.ndarray,
    skin: np.ndarray,
    seam_half: np.float32,
) -> None:
    """Every face's mouth: lips, then the opening (at least a thin seam)."""
    pxf = np.float32(px)
    lips_middle = np.empty(w, dtype=np.float32)
    lips_half = np.empty(w, dtype=np.float32)
    cavity_middle = np.empty(w, dtype=np.float32)
    cavity_half = np.empty(w, dtype=np.float32)
    for i in range(frames.shape[0]):
        lip_tone = skin[i] * np.float32(0.68)
        cavity_tone = skin[i] * np.float32(0.15)
        for j in range(w):
            t = (_coord(col0[i], j, px) - mouth_x[i]) / half_width[i]
            t2 = t * t
            profile = max(np.float32(1.0) - t2, np.float32(0.0))
            right = max(t, np.float32(0.0))
            seam = (seam_y[i] - smile[i] * (t2 - np.float32(0.3))) - asymmetry_lift[i] * (right * right)
            open_down = open_down_h[i] * profile
            open_up = (
                open_up_h[i] + lip_raise[i] * (np.float32(1.0) + np.float32(0.8) * right * asymmetry[i])
            ) * profile
            lip_scale = lip_h[i] * (np.float32(0.4) + np.float32(0.6) * profile)
            lip_top = (seam - open_up) - np.float32(0.035) * lip_scale
            lip_bottom = (seam + open_down) + np.float32(0.05) * lip_scale
            lips_middle[j] = (lip_top + lip_bottom) / np.float32(2.0)
            lips_half[j] = _cut(t, (lip_bottom - lip_top) / np.float32(2.0))
            cavity_middle[j] = seam + (open_down - open_up) / np.float32(2.0)
            cavity_half[j] = _cut(t * np.float32(1.05), max((open_down + open_up) / np.float32(2.0), seam_half))
        for k in range(h):
            y = _coord(row0[i], k, px)
            row = frames[i, row0[i] + k, col0[i] : col0[i] + w]
            for j in range(w):
                value = row[j]
                value = value + (lip_tone - value) * _band_varying(y, lips_middle[j], lips_half[j], pxf)
                row[j] = value + (cavity_tone - value) * _band_varying(y, cavity_middle[j], cavity_half[j], pxf)


@njit(cache=True, nogil=True)
def paint_fold(
    frames: np.ndarray,
    faces: np.ndarray,
    px: float,
    row0: np.ndarray,
    col0: np.ndarray,
    h: int,
    w: int,
    top: np.ndarray,
    height: np.ndarray,
    x_top: np.ndarray,
    x_run: np.ndarray,
    bow: np.ndarray,
    fold_half: np.float32,
    strength: np.ndarray,
    tone: np.ndarray,
) -> None:
    """One nasolabial fold of the faces ``faces`` (frames' indices): a bowed line from the nose to the mouth."""
    pxf = np.float32(px)
    xs = np.empty(w, dtype=np.float32)
    for f in range(faces.shape[0]):
        i = faces[f]
        _coords(col0[f], w, px, xs)
        for k in range(h):
            span = (_coord(row0[f], k, px) - top[f]) / height[f]
            middle = (x_top[f] + x_run[f] * span) + bow[f] * span * (np.float32(1.0) - span)
            half = _cut(np.float32(2.0) * span - np.float32(1.0), fold_half)
            row = frames[i, row0[f] + k, col0[f] : col0[f] + w]
            for j in range(w):
                value = row[j]
                row[j] = value + (tone[f] - value) * (_band_varying(xs[j], middle, half, pxf) * strength[f])


@njit(cache=True, nogil=True)
def paint_ring(
    frames: np.ndarray,
    faces: np.ndarray,
    px: float,
    row0: np.ndarray,
    col0: np.ndarray,
    h: int,
    w: int,
    ex: np.ndarray,
    ey: np.ndarray,
    rx: np.ndarray,
    ry: np.ndarray,
    inner_rx: np.ndarray,
    inner_ry: np.ndarray,
) -> None:
    """One glasses ring of the faces ``faces``: an ellipse minus a smaller one."""
    tone = np.float32(0.08)
    outer_col = np.empty(w, dtype=np.float32)
    inner_col = np.empty(w, dtype=np.float32)
    for f in range(faces.shape[0]):
        i = faces[f]
        k_outer = min(rx[f], ry[f]) * np.float32(px / 2)
        k_inner = min(inner_rx[f], inner_ry[f]) * np.float32(px / 2)
        for j in range(w):
            x = _coord(col0[f], j, px)
            dx, dx_inner = (x - ex[f]) / rx[f], (x - ex[f]) / inner_rx[f]
            outer_col[j] = (_HALF + k_outer) - k_outer * (dx * dx)
            inner_col[j] = (_HALF + k_inner) - k_inner * (dx_inner * dx_inner)
        for k in range(h):
            y = _coord(row0[f], k, px)
            dy, dy_inner = (y - ey[f]) / ry[f], (y - ey[f]) / inner_ry[f]
            outer_row = (-k_outer) * (dy * dy)
            inner_row = (-k_inner) * (dy_inner * dy_inner)
            row = frames[i, row0[f] + k, col0[f] : col0[f] + w]
            for j in range(w):
                value = row[j]
                ring = _unit(outer_row + outer_col[j]) - _unit(inner_row + inner_col[j])
                row[j] = value + (tone - value) * ring


@njit(cache=True, nogil=True)
def paint_bridge(
    frames: np.ndarray,
    faces: np.ndarray,
    px: float,
    row0: np.ndarray,
    col0: np.ndarray,
    h: int,
    w: int,
    bridge_x: np.ndarray,
    bridge_half: np.ndarray,
    bridge_y: np.ndarray,
    line_half: np.float32,
) -> None:
    """The glasses' bridge of the faces ``faces``: a short horizontal line between the rings."""
    pxf = np.float32(px)
    tone = np.float32(0.08)
    half = np.empty(w, dtype=np.float32)
    for f in range(faces.shape[0]):
        i = faces[f]
        for j in range(w):
            half[j] = _cut((_coord(col0[f], j, px) - bridge_x[f]) / bridge_half[f], line_half)
        for k in range(h):
            y = _coord(row0[f], k, px)
            row = frames[i, row0[f] + k, col0[f] : col0[f] + w]
            for j in range(w):
                value = row[j]
                row[j] = value + (tone - value) * _band_fixed(y, bridge_y[f], half[j], pxf)


@njit(cache=True, nogil=True)
def paint_occluder(
    frames: np.ndarray,
    faces: np.ndarray,
    px: float,
    grid: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    half_x: np.ndarray,
    half_y: np.ndarray,
    tone: np.ndarray,
) -> None:
    """A soft-edged box over the faces ``faces``, shaded from top to bottom."""
    pxf = np.float32(px)
    size = frames.shape[1]
    columns = np.empty(size, dtype=np.float32)
    for f in range(faces.shape[0]):
        i = faces[f]
        for c in range(size):
            columns[c] = _band_fixed(grid[c], cx[f], half_x[f], pxf)
        for r in range(size):
            y = grid[r]
            row = _band_fixed(y, cy[f], half_y[f], pxf)
            shade = tone[f] * (np.float32(1.0) + np.float32(0.15) * (y - cy[f]))
            pixels = frames[i, r]
            for c in range(size):
                value = pixels[c]
                pixels[c] = value + (shade - value) * (row * columns[c])


@njit(cache=True, nogil=True)
def light_and_noise(
    frames: np.ndarray,
    grid: np.ndarray,
    col_strength: np.ndarray,
    row_strength: np.ndarray,
    noise: np.ndarray,
    noise_scale: np.ndarray,
    out: np.ndarray,
) -> None:
    """The lighting gradient ``255 + a * x + b * y``, the sensor noise (int8, one row a face), clipped to 0..255 and
    truncated to uint8 into ``out``."""
    n, size = frames.shape[0], frames.shape[1]
    for i in range(n):
        for r in range(size):
            row_gain = row_strength[i] * grid[r] + np.float32(255.0)
            pixels = frames[i, r]
            for c in range(size):
                value = pixels[c] * (row_gain + col_strength[i] * grid[c])
                value = value + np.float32(noise[i, r * size + c]) * noise_scale[i]
                value = min(max(value, np.float32(0.0)), np.float32(255.0))
                out[i, r, c] = np.uint8(value)
