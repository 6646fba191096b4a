"""Synthetic grayscale faces, rendered for a whole batch at once (SPEC §4).

A face is drawn from smooth shapes on a coordinate grid: an elliptical head
with a tapered jaw, hair, eyes (sclera, iris, upper-lid line), brows, nose,
mouth (lips, opening, seam) and nasolabial folds, then optional glasses, a
partial occlusion (a hand), a lighting gradient and sensor noise.

Expressions are drawn part by part, the way people read them, through eleven
facial *actions* (:data:`ACTIONS`). Each expression is a row of
:data:`EXPRESSION_ACTIONS`; a face shows ``intensity * row + resting`` where
``resting`` is its identity's small resting-face offset. At intensity 0 every
class is the neutral face of that identity, so low-intensity faces are
genuinely ambiguous.

============  ==============================================================
expression    what changes (at intensity 1)
============  ==============================================================
neutral       nothing
happy         mouth corners up, wider mouth slightly open, cheeks raised
              (lower lids push up, nasolabial folds show)
surprise      brows high, eyes wide, jaw dropped into a narrow O mouth
sad           mouth corners down, inner brow ends raised, lids drooping
anger         brows lowered and drawn together (inner ends down), lips
              pressed thin, eyes narrowed
disgust       upper lip raised on one side, nose wrinkled, brows lowered,
              eyes narrowed, asymmetric mouth
fear          brows raised with inner ends up, eyes wide, mouth open and
              stretched sideways
============  ==============================================================

Coordinates: ``X`` runs left to right and ``Y`` top to bottom over [-1, 1];
face-relative units ``u`` (multiples of the face half-width) and ``v``
(multiples of the face half-height) place the parts. Large layers (head, hair,
lighting, noise) are computed on the whole frame from separable row and
column terms; small parts are computed in per-face pixel windows gathered
from and scattered back into the frame, so the cost per face stays small.
Nothing loops over faces.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import numpy as np

EXPRESSIONS = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear")
ATTRIBUTES = ("eyes_closed", "yawning", "looking_away")
N_EXPRESSIONS = len(EXPRESSIONS)
N_ATTRIBUTES = len(ATTRIBUTES)
DEFAULT_SIZE = 64

ACTIONS = ("brow_raise", "brow_inner_raise", "eye_open", "smile", "mouth_open", "mouth_stretch",
           "lip_press", "upper_lip_raise", "asymmetry", "cheek_raise", "nose_wrinkle")
N_ACTIONS = len(ACTIONS)

# Action values at full intensity, one row per expression (columns follow ACTIONS).
EXPRESSION_ACTIONS = np.array([
    # brow  inner  eye   smile  open  stretch press upper asym  cheek nose
    [0.0,  0.0,  0.0,  0.0,  0.0,  0.0,  0.0,  0.0,  0.0,  0.0,  0.0],   # neutral
    [0.1,  0.0, -0.35, 1.0,  0.3,  0.4,  0.0,  0.0,  0.0,  1.0,  0.0],   # happy
    [1.0,  0.0,  0.9,  0.0,  1.0, -0.5,  0.0,  0.0,  0.0,  0.0,  0.0],   # surprise
    [-0.1, 1.0, -0.3, -0.9,  0.0,  0.0,  0.2,  0.0,  0.0,  0.0,  0.0],   # sad
    [-0.9, -1.0, -0.25, -0.2, 0.0, -0.2,  1.0,  0.0,  0.0,  0.0,  0.2],   # anger
    [-0.5, -0.3, -0.4, -0.4,  0.15, 0.0,  0.0,  1.0,  1.0,  0.3,  1.0],   # disgust
    [0.6,  0.8,  1.0, -0.3,  0.45, 0.8,  0.0,  0.0,  0.0,  0.0,  0.0],   # fear
], dtype=np.float32)

# Yawning replaces whatever the mouth and eyes were doing with these actions.
YAWN_ACTIONS = {"mouth_open": 1.7, "mouth_stretch": -0.35, "smile": 0.0, "lip_press": 0.0,
                "upper_lip_raise": 0.0, "eye_open": -0.45}

HAIR_STYLES = ("bald", "short", "fringe", "long")

# Identity ranges (uniform unless noted). Units: face_width/height in image half-widths,
# eye_spacing / eye_size / mouth_width in face units, tones in [0, 1] gray.
FACE_WIDTH = (0.50, 0.66)
FACE_HEIGHT = (0.66, 0.82)
JAW_TAPER = (0.0, 0.3)
SKIN_TONE = (0.30, 0.85)
BACKGROUND_TONE = (0.05, 0.95)
HAIR_TONE = (0.03, 0.75)
EYE_SPACING = (0.34, 0.46)
EYE_SIZE = (0.85, 1.2)
MOUTH_WIDTH = (0.26, 0.36)
BROW_THICKNESS = (0.028, 0.05)
RESTING_FACE_SD = 0.1          # N(0, sd) per action: everyone's neutral face differs a little
# Per-frame nuisance ranges.
CENTER_JITTER = 0.08           # face centre moves U(-j, j) in x and in y
CENTER_Y = 0.08                # the head sits this much below the frame centre
SCALE_RANGE = (0.88, 1.1)      # distance to the camera
YAW_LOOKING = (0.45, 1.0)      # |yaw| when looking away
YAW_FACING = 0.15              # |yaw| at most when facing the camera
LIGHT_STRENGTH = (0.0, 0.4)    # multiplicative gradient, 1 +- strength across the frame
NOISE_SD = (0.01, 0.06)        # sensor noise sd in [0, 1] gray units
OCCLUDER_WIDTH = (0.5, 1.1)    # in face half-widths
OCCLUDER_HEIGHT = (0.4, 0.9)   # in face half-heights


@dataclass(frozen=True)
class FaceSampling:
    """Probabilities of the per-frame draws in :func:`sample_face_params`.

    :param intensity_beta: expression intensity ~ Beta(a, b); the default puts
        about 35% of faces below 0.3, where classes blur into neutral.
    :param eyes_closed_prob, yawning_prob, looking_away_prob: independent
        Bernoulli attribute draws.
    :param occlusion_prob: chance of a hand covering part of the face.
    :param glasses_prob: chance an identity wears glasses.
    """

    intensity_beta: tuple[float, float] = (1.1, 1.5)
    eyes_closed_prob: float = 0.12
    yawning_prob: float = 0.08
    looking_away_prob: float = 0.2
    occlusion_prob: float = 0.15
    glasses_prob: float = 0.25


DEFAULT_SAMPLING = FaceSampling()


@dataclass
class FaceIdentity:
    """Who a face belongs to: per-identity arrays of length n (see the ranges above)."""

    face_width: np.ndarray       # head half-width in image half-widths
    face_height: np.ndarray      # head half-height
    jaw_taper: np.ndarray        # how much narrower the jaw is than the cheeks
    skin_tone: np.ndarray
    background_tone: np.ndarray
    hair_style: np.ndarray       # index into HAIR_STYLES
    hair_tone: np.ndarray
    eye_spacing: np.ndarray      # eye centre offset from the midline, face units
    eye_size: np.ndarray
    mouth_width: np.ndarray      # mouth half-width, face units
    brow_thickness: np.ndarray   # brow half-thickness, face units
    glasses: np.ndarray          # bool
    resting_actions: np.ndarray  # (n, N_ACTIONS) resting-face offsets

    def __len__(self) -> int:
        return self.face_width.shape[0]

    def take(self, index: np.ndarray | slice | int) -> FaceIdentity:
        """The identities at ``index`` (an int keeps a batch of one)."""
        index = _as_index(index)
        return FaceIdentity(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass
class FaceParams:
    """Everything :func:`render_faces` needs for n faces: an identity and one frame's state."""

    identity: FaceIdentity
    expression: np.ndarray        # int, index into EXPRESSIONS
    intensity: np.ndarray         # in [0, 1]
    eyes_closed: np.ndarray       # bool
    yawning: np.ndarray           # bool
    yaw: np.ndarray               # in [-1, 1]; |yaw| >= 0.45 reads as looking away
    center_x: np.ndarray          # face centre in image coordinates
    center_y: np.ndarray
    scale: np.ndarray             # multiplies the face size
    light_angle: np.ndarray       # direction of the lighting gradient, radians
    light_strength: np.ndarray
    noise_sd: np.ndarray
    occluded: np.ndarray          # bool
    occluder: np.ndarray          # (n, 4): centre u, centre v, half-width u, half-height v
    occluder_tone: np.ndarray

    def __len__(self) -> int:
        return self.expression.shape[0]

    def take(self, index: np.ndarray | slice | int) -> FaceParams:
        """The faces at ``index`` (an int keeps a batch of one)."""
        index = _as_index(index)
        values = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "identity"}
        return FaceParams(identity=self.identity.take(index), **values)

    def replace(self, **changes: np.ndarray) -> FaceParams:
        """A copy with some per-frame fields replaced (arrays broadcast to n)."""
        n = len(self)
        converted = {k: np.broadcast_to(np.asarray(v), (n,) + np.shape(getattr(self, k))[1:]).copy()
                     for k, v in changes.items()}
        return replace(self, **converted)

    @property
    def looking_away(self) -> np.ndarray:
        return np.abs(self.yaw) >= YAW_LOOKING[0]

    def attributes(self) -> np.ndarray:
        """Attribute labels (n, 3) uint8 in :data:`ATTRIBUTES` order."""
        return np.stack([self.eyes_closed, self.yawning, self.looking_away], axis=1).astype(np.uint8)


class FaceBatch(NamedTuple):
    """A rendered training batch."""

    images: np.ndarray       # (n, size, size) uint8
    expressions: np.ndarray  # (n,) int64
    attributes: np.ndarray   # (n, 3) uint8
    intensity: np.ndarray    # (n,) float32


def _as_index(index: np.ndarray | slice | int) -> np.ndarray | slice:
    if isinstance(index, (int, np.integer)):
        return slice(int(index), int(index) + 1)
    return index


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n).astype(np.float32)


def sample_identities(n: int, rng: np.random.Generator,
                      sampling: FaceSampling = DEFAULT_SAMPLING) -> FaceIdentity:
    """Draw n identities: head shape, tones, hair, eye spacing, glasses, resting face.

    All draws are uniform over the ranges defined at the top of this module,
    hair style uniform over :data:`HAIR_STYLES`, glasses Bernoulli
    (``sampling.glasses_prob``), resting-face offsets N(0, RESTING_FACE_SD).
    """
    return FaceIdentity(
        face_width=_uniform(rng, FACE_WIDTH, n),
        face_height=_uniform(rng, FACE_HEIGHT, n),
        jaw_taper=_uniform(rng, JAW_TAPER, n),
        skin_tone=_uniform(rng, SKIN_TONE, n),
        background_tone=_uniform(rng, BACKGROUND_TONE, n),
        hair_style=rng.integers(0, len(HAIR_STYLES), n).astype(np.int8),
        hair_tone=_uniform(rng, HAIR_TONE, n),
        eye_spacing=_uniform(rng, EYE_SPACING, n),
        eye_size=_uniform(rng, EYE_SIZE, n),
        mouth_width=_uniform(rng, MOUTH_WIDTH, n),
        brow_thickness=_uniform(rng, BROW_THICKNESS, n),
        glasses=rng.random(n) < sampling.glasses_prob,
        resting_actions=(rng.standard_normal((n, N_ACTIONS)) * RESTING_FACE_SD).astype(np.float32),
    )


def _given_or(value: np.ndarray | int | float | bool | None, n: int, draw, dtype) -> np.ndarray:
    """``value`` broadcast to n, or ``draw()`` when it is None."""
    if value is None:
        return np.asarray(draw(), dtype=dtype)
    value = np.asarray(value, dtype=dtype)
    if value.ndim and value.shape[0] != n:
        raise ValueError(f"expected {n} values, got {value.shape[0]}")
    return np.broadcast_to(value, (n,)).copy()


def sample_face_params(n: int, rng: np.random.Generator, *, identity: FaceIdentity | None = None,
                       expression: np.ndarray | int | None = None, intensity: np.ndarray | float | None = None,
                       eyes_closed: np.ndarray | bool | None = None, yawning: np.ndarray | bool | None = None,
                       looking_away: np.ndarray | bool | None = None,
                       sampling: FaceSampling = DEFAULT_SAMPLING) -> FaceParams:
    """Draw one frame's state for n faces; any argument given is used as is.

    :param identity: the faces' identities (n of them); drawn with
        :func:`sample_identities` when None.
    :param expression: class indices; uniform over the seven classes when None.
    :param intensity: in [0, 1]; ~ Beta(``sampling.intensity_beta``) when None.
    :param eyes_closed, yawning, looking_away: attribute flags; Bernoulli with
        the ``sampling`` probabilities when None.

    Nuisance draws: yaw |yaw| ~ U(0.45, 1) when looking away, U(0, 0.15)
    otherwise, random sign; centre jitter U(-0.08, 0.08); scale U(0.88, 1.1);
    light angle U(0, 2 pi), strength U(0, 0.4); noise sd U(0.01, 0.06);
    occlusion Bernoulli(``sampling.occlusion_prob``), a box over a random part
    of the face with a skin-like or random tone.
    """
    identity = sample_identities(n, rng, sampling) if identity is None else identity
    if len(identity) != n:
        raise ValueError(f"identity holds {len(identity)} faces, expected {n}")
    expression = _given_or(expression, n, lambda: rng.integers(0, N_EXPRESSIONS, n), np.int64)
    if np.any((expression < 0) | (expression >= N_EXPRESSIONS)):
        raise ValueError(f"expression must be in [0, {N_EXPRESSIONS - 1}]")
    intensity = _given_or(intensity, n, lambda: rng.beta(*sampling.intensity_beta, n), np.float32)
    eyes_closed = _given_or(eyes_closed, n, lambda: rng.random(n) < sampling.eyes_closed_prob, bool)
    yawning = _given_or(yawning, n, lambda: rng.random(n) < sampling.yawning_prob, bool)
    looking_away = _given_or(looking_away, n, lambda: rng.random(n) < sampling.looking_away_prob, bool)
    yaw_size = np.where(looking_away, rng.uniform(*YAW_LOOKING, n), rng.uniform(0, YAW_FACING, n))
    yaw = (yaw_size * rng.choice([-1.0, 1.0], n)).astype(np.float32)
    occluded = rng.random(n) < sampling.occlusion_prob
    occluder = np.stack([rng.uniform(-0.7, 0.7, n), rng.uniform(-0.3, 0.8, n),
                         rng.uniform(*OCCLUDER_WIDTH, n) / 2, rng.uniform(*OCCLUDER_HEIGHT, n) / 2],
                        axis=1).astype(np.float32)
    skin_like = rng.random(n) < 0.6
    occluder_tone = np.where(skin_like, identity.skin_tone * rng.uniform(0.85, 1.15, n), rng.uniform(0.05, 0.95, n))
    return FaceParams(
        identity=identity, expression=expression, intensity=np.clip(intensity, 0, 1), eyes_closed=eyes_closed,
        yawning=yawning, yaw=yaw,
        center_x=_uniform(rng, (-CENTER_JITTER, CENTER_JITTER), n),
        center_y=_uniform(rng, (CENTER_Y - CENTER_JITTER, CENTER_Y + CENTER_JITTER), n),
        scale=_uniform(rng, SCALE_RANGE, n),
        light_angle=_uniform(rng, (0.0, 2 * np.pi), n),
        light_strength=_uniform(rng, LIGHT_STRENGTH, n),
        noise_sd=_uniform(rng, NOISE_SD, n),
        occluded=occluded, occluder=occluder, occluder_tone=np.clip(occluder_tone, 0, 1).astype(np.float32),
    )


def sample_face_batch(n: int, rng: np.random.Generator, size: int = DEFAULT_SIZE,
                      sampling: FaceSampling = DEFAULT_SAMPLING) -> FaceBatch:
    """Render n labelled training faces, each with a fresh identity.

    Distributions: expression uniform over the seven classes; intensity ~
    Beta(1.1, 1.5) (mean 0.42, about 35% below 0.3); eyes closed 12%,
    yawning 8%, looking away 20%, independently; identity and nuisance as in
    :func:`sample_identities` and :func:`sample_face_params`.
    """
    params = sample_face_params(n, rng, sampling=sampling)
    images = render_faces(params, rng, size=size)
    return FaceBatch(images, params.expression.astype(np.int64), params.attributes(),
                     params.intensity.astype(np.float32))


# ----------------------------------------------------------------------------------------------
# Rendering


def _col(values: np.ndarray) -> np.ndarray:
    """Per-face values as (n, 1, 1) float32, to broadcast over a frame or window."""
    return np.asarray(values, dtype=np.float32)[:, None, None]


@dataclass
class _Layout:
    """Per-face geometry in image coordinates, each (n,) float32."""

    face_x: np.ndarray
    face_y: np.ndarray
    half_w: np.ndarray      # head half-width a
    half_h: np.ndarray      # head half-height b
    squash: np.ndarray      # horizontal compression of feature offsets under yaw
    shift: np.ndarray       # horizontal shift of features under yaw, face units
    actions: dict[str, np.ndarray]

    def x(self, u: np.ndarray | float) -> np.ndarray:
        """Image x of a feature at face-unit offset u from the midline (after yaw)."""
        return self.face_x + self.half_w * (u * self.squash + self.shift)

    def y(self, v: np.ndarray | float) -> np.ndarray:
        return self.face_y + self.half_h * v


def _face_actions(params: FaceParams) -> dict[str, np.ndarray]:
    """Action values per face: resting face + intensity * expression row, yawning overriding the mouth."""
    values = params.identity.resting_actions + params.intensity[:, None] * EXPRESSION_ACTIONS[params.expression]
    actions = {name: values[:, i].astype(np.float32) for i, name in enumerate(ACTIONS)}
    for name, value in YAWN_ACTIONS.items():
        actions[name] = np.where(params.yawning, np.float32(value), actions[name])
    actions["mouth_open"] = np.clip(actions["mouth_open"], 0, None)
    actions["mouth_stretch"] = np.clip(actions["mouth_stretch"], -0.6, 1.0)
    actions["eye_open"] = np.clip(actions["eye_open"], -0.6, 1.2)
    for name in ("lip_press", "upper_lip_raise", "cheek_raise", "nose_wrinkle"):
        actions[name] = np.clip(actions[name], 0, 1)
    actions["asymmetry"] = np.abs(actions["asymmetry"])
    return actions


def _layout(params: FaceParams) -> _Layout:
    ident = params.identity
    yaw = params.yaw.astype(np.float32)
    return _Layout(
        face_x=params.center_x + 0.06 * yaw * ident.face_width,
        face_y=params.center_y.astype(np.float32),
        half_w=ident.face_width * params.scale * (1 - 0.08 * np.abs(yaw)),
        half_h=ident.face_height * params.scale,
        squash=1 - 0.25 * np.abs(yaw), shift=0.32 * yaw,
        actions=_face_actions(params))


class _Window(NamedTuple):
    """Per-face pixel windows: flat indices into the frame stack and their image coordinates."""

    flat: np.ndarray  # (m, h, w) indices into frames.reshape(-1)
    X: np.ndarray     # (m, 1, w)
    Y: np.ndarray     # (m, h, 1)


def _window(faces: np.ndarray, center_x: np.ndarray, center_y: np.ndarray, half_w: float, half_h: float,
            size: int) -> _Window:
    """Windows of fixed pixel size around per-face centres, clamped inside the frame.

    :param faces: which frames of the stack (indices); centres are given for those faces.
    :param half_w, half_h: half extents in image units, the same for every face.
    """
    px = size / 2
    w = min(size, 2 * int(np.ceil(half_w * px)) + 1)
    h = min(size, 2 * int(np.ceil(half_h * px)) + 1)
    c0 = np.clip(np.rint((center_x + 1) * px - 0.5).astype(np.intp) - w // 2, 0, size - w)
    r0 = np.clip(np.rint((center_y + 1) * px - 0.5).astype(np.intp) - h // 2, 0, size - h)
    cols = c0[:, None] + np.arange(w)
    rows = r0[:, None] + np.arange(h)
    flat = (faces.astype(np.intp) * size * size)[:, None, None] + rows[:, :, None] * size + cols[:, None, :]
    X = ((cols + 0.5) / px - 1).astype(np.float32)[:, None, :]
    Y = ((rows + 0.5) / px - 1).astype(np.float32)[:, :, None]
    return _Window(flat, X, Y)


def _blend(canvas: np.ndarray, coverage: np.ndarray, tone: np.ndarray | float) -> None:
    """canvas <- canvas + coverage * (tone - canvas), in place."""
    delta = np.subtract(tone, canvas, dtype=np.float32)
    delta *= coverage
    canvas += delta


def _ellipse_coverage(X: np.ndarray, Y: np.ndarray, cx: np.ndarray, cy: np.ndarray, rx: np.ndarray,
                      ry: np.ndarray, px: float, out: np.ndarray | None = None) -> np.ndarray:
    """Antialiased coverage of axis-aligned ellipses (per-face (n, 1, 1) parameters).

    Uses the first-order signed distance (q - 1) * r / 2, exact at the rim,
    so edges are about one pixel soft.
    """
    k = np.minimum(rx, ry) * (px / 2)
    column_term = (0.5 + k) - k * np.square((X - cx) / rx)
    row_term = -k * np.square((Y - cy) / ry)
    coverage = np.add(column_term, row_term, out=out)
    return np.clip(coverage, 0, 1, out=coverage)


def _band_coverage(coord: np.ndarray, middle: np.ndarray, half_width: np.ndarray | float, px: float) -> np.ndarray:
    """Antialiased coverage of ``|coord - middle| < half_width`` (edges vary along the other axis).

    Curves are cut off beyond their ends by giving them a negative half-width there.
    """
    distance = np.subtract(coord * px, middle * px, dtype=np.float32)
    np.abs(distance, out=distance)
    inside = np.subtract(np.multiply(half_width, px, dtype=np.float32) + 0.5, distance, out=distance)
    return np.clip(inside, 0, 1, out=inside)


def _between(coord: np.ndarray, low: np.ndarray, high: np.ndarray, px: float) -> np.ndarray:
    """Antialiased coverage of ``low < coord < high``."""
    return _band_coverage(coord, (low + high) / 2, (high - low) / 2, px)


def _cut_outside(t: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """``half_width`` where |t| < 1, else negative: cuts a band off beyond its ends."""
    return np.where(np.abs(t) < 1, half_width, np.float32(-9.0))


def _paint_head(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    """Background, hair mass, head (tapered ellipse) and the hair over the forehead, full frame."""
    ident = params.identity
    px = size / 2
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / px - 1)
    X, Y = grid[None, None, :], grid[None, :, None]
    n = len(params)
    frames[...] = _col(ident.background_tone)
    coverage = np.empty_like(frames)

    style = ident.hair_style
    has_hair = style != HAIR_STYLES.index("bald")
    long_hair = style == HAIR_STYLES.index("long")
    hair_rx = lay.half_w * np.where(long_hair, 1.22, 1.1)
    hair_ry = lay.half_h * np.where(long_hair, 1.25, 1.02)
    hair_cy = lay.face_y + lay.half_h * np.where(long_hair, 0.22, -0.1)
    hair_cx = lay.face_x - 0.05 * params.yaw * lay.half_w
    _ellipse_coverage(X, Y, _col(hair_cx), _col(hair_cy), _col(hair_rx), _col(hair_ry), px, out=coverage)
    coverage *= _col(has_hair)
    _blend(frames, coverage, _col(ident.hair_tone))

    # Head: an ellipse whose half-width shrinks below the cheeks (jaw taper), skin only below the
    # hairline (a curve rising towards the temples) so the hair mass shows over the forehead.
    a, b = _col(lay.half_w), _col(lay.half_h)
    below = np.clip((Y - _col(lay.face_y)) / b, 0, 1)
    width_scale = 1 - _col(ident.jaw_taper) * np.square(below)          # (n, H, 1)
    k = a * (px / 2)
    dx2 = -k * np.square((X - _col(lay.face_x)) / a)                    # (n, 1, W)
    row_term = (0.5 + k) - k * np.square((Y - _col(lay.face_y)) / b)    # (n, H, 1)
    np.multiply(dx2, 1 / np.square(width_scale), out=coverage)
    coverage += row_term
    np.clip(coverage, 0, 1, out=coverage)
    hairline_v = np.select([style == HAIR_STYLES.index("fringe"), has_hair], [-0.42, -0.62], -3.0)
    u = (X - _col(lay.face_x)) / a
    hairline = _col(lay.face_y + lay.half_h * hairline_v) + b * 0.35 * np.square(u)  # (n, 1, W)
    top = slice(0, int(np.ceil((float(np.max(lay.face_y)) + 1) * px)))  # the hairline never goes lower
    below_hairline = np.subtract(Y[:, top], hairline)
    below_hairline *= px
    below_hairline += 0.5
    np.clip(below_hairline, 0, 1, out=below_hairline)
    coverage[:, top] *= below_hairline
    _blend(frames, coverage, _col(ident.skin_tone))


def _paint_eyes(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    """Sclera, iris and upper-lid line of both eyes; closed eyes keep only a drooping lid line."""
    px = size / 2
    flat = frames.reshape(-1)
    act = lay.actions
    ident = params.identity
    faces = np.arange(len(params))
    open_scale = (1 + 0.7 * act["eye_open"]) * ~params.eyes_closed
    nominal_h = 0.085 * lay.half_h * ident.eye_size
    upper_h = nominal_h * open_scale
    lower_h = upper_h * (0.75 - 0.4 * act["cheek_raise"])
    skin = ident.skin_tone
    sclera_tone = _col(np.minimum(skin * 1.2 + 0.15, 0.97))
    lid_tone = _col(skin * 0.3)
    for side in (-1, 1):
        ex = lay.x(side * ident.eye_spacing)
        ey = lay.y(-0.1 - 0.03 * act["cheek_raise"])
        ew = 0.17 * lay.half_w * ident.eye_size * (1 - 0.3 * params.yaw * side)
        win = _window(faces, ex, ey, 0.19, 0.13, size)
        patch = flat[win.flat]
        t = (win.X - _col(ex)) / _col(ew)                 # (n, 1, w), -1..1 across the eye
        profile = np.clip(1 - np.square(t), 0, None)
        top = _col(ey) - _col(upper_h) * profile
        bottom = _where_in_span(t, _col(ey) + _col(lower_h) * profile, -9.0)
        opening = _band_coverage(win.Y, top, bottom, px)
        _blend(patch, opening, sclera_tone)
        iris_x = ex + 0.4 * ew * params.yaw
        iris_r = 0.5 * nominal_h
        iris = _ellipse_coverage(win.X, win.Y, _col(iris_x), _col(ey), _col(iris_r), _col(iris_r), px)
        iris *= opening
        _blend(patch, iris, 0.08)
        droop = _col(0.35 * nominal_h * params.eyes_closed) * profile
        lid = _where_in_span(t, top + droop, -9.0)
        lid_line = _band_coverage(win.Y, lid - 0.45 / px, lid + 0.45 / px, px)
        _blend(patch, lid_line, lid_tone)
        flat[win.flat] = patch


def _paint_brows(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    """Brows as tapered thick curves: raise moves them up, inner raise tilts their inner ends."""
    px = size / 2
    flat = frames.reshape(-1)
    act = lay.actions
    ident = params.identity
    faces = np.arange(len(params))
    tone = _col(np.minimum(ident.hair_tone, ident.skin_tone) * 0.7)
    half_len = 0.2 * lay.half_w * lay.squash
    thickness = ident.brow_thickness * lay.half_h
    centre_v = -0.31 - 0.13 * act["brow_raise"]
    for side in (-1, 1):
        inward = 0.035 * np.clip(-act["brow_inner_raise"], 0, None)   # angry brows draw together
        bx = lay.x(side * (ident.eye_spacing - inward))
        by = lay.y(centre_v)
        win = _window(faces, bx, by, 0.17, 0.12, size)
        patch = flat[win.flat]
        t_in = -side * (win.X - _col(bx)) / _col(half_len)           # +1 at the inner end
        centre = (_col(by) - _col(0.05 * lay.half_h * act["brow_inner_raise"]) * t_in
                  + _col(0.03 * lay.half_h) * np.square(t_in))
        half_thick = _col(thickness) * (0.7 + 0.3 * t_in)
        top = centre - half_thick
        bottom = _where_in_span(t_in, centre + half_thick, -9.0)
        _blend(patch, _band_coverage(win.Y, top, bottom, px), tone)
        flat[win.flat] = patch


def _paint_nose(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    """Nostrils, a faint ridge shadow and, for disgust, wrinkles across the bridge."""
    px = size / 2
    flat = frames.reshape(-1)
    act = lay.actions
    faces = np.arange(len(params))
    skin = params.identity.skin_tone
    nose_x = lay.x(0.0) + 0.1 * params.yaw * lay.half_w
    win = _window(faces, nose_x, lay.y(0.12), 0.12, 0.15, size)
    patch = flat[win.flat]
    dark = _col(skin * 0.45)
    nostril_y = _col(lay.y(0.24 - 0.03 * act["nose_wrinkle"]))
    nostril_r = _col(0.032 * lay.half_w)
    for side in (-1, 1):
        nx = _col(nose_x + side * 0.075 * lay.half_w * lay.squash)
        _blend(patch, _ellipse_coverage(win.X, win.Y, nx, nostril_y, nostril_r, nostril_r * 0.7, px), dark)
    ridge_x = _col(nose_x + 0.08 * lay.half_w * np.sign(params.yaw + 1e-3))
    ridge = _band_coverage(win.X, ridge_x - 0.4 / px, ridge_x + 0.4 / px, px)
    ridge = ridge * ((win.Y > _col(lay.y(-0.02))) & (win.Y < nostril_y))
    _blend(patch, ridge, _col(skin * 0.8))
    strength = _col(0.75 * act["nose_wrinkle"])
    for v in (-0.02, 0.05):
        t = (win.X - _col(nose_x)) / _col(0.09 * lay.half_w)
        y = _col(lay.y(v))
        wrinkle = _band_coverage(win.Y, y - 0.5 / px, _where_in_span(t, y + 0.5 / px, -9.0), px)
        wrinkle *= strength
        _blend(patch, wrinkle, dark)
    flat[win.flat] = patch


def _paint_mouth(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    """Lips, mouth opening and seam, and the nasolabial folds of a raised cheek.

    The seam is a parabola whose corners rise with ``smile`` (fall when
    negative) and, with ``asymmetry``, rise more on one side; the opening
    grows down with ``mouth_open`` and up with ``upper_lip_raise``;
    ``lip_press`` thins the lips; ``mouth_stretch`` widens the mouth.
    """
    px = size / 2
    flat = frames.reshape(-1)
    act = lay.actions
    faces = np.arange(len(params))
    ident = params.identity
    a, b = lay.half_w, lay.half_h
    mouth_x = lay.x(0.0) + 0.05 * params.yaw * a
    half_width = ident.mouth_width * (1 + 0.3 * act["mouth_stretch"]) * a * lay.squash
    mouth_v = 0.5
    win = _window(faces, mouth_x, lay.y(0.47), 0.34, 0.31, size)
    patch = flat[win.flat]
    t = (win.X - _col(mouth_x)) / _col(half_width)                      # (n, 1, w)
    t2 = np.square(t)
    profile = np.clip(1 - t2, 0, None)
    smile, asym = _col(act["smile"] * b), _col(act["asymmetry"] * b)
    seam = _col(lay.y(mouth_v)) - 0.11 * smile * (t2 - 0.3) - 0.08 * asym * np.square(np.clip(t, 0, None))
    open_down = _col(0.17 * act["mouth_open"] * b) * profile
    open_up = (_col(0.05 * act["mouth_open"] * b)
               + _col(0.07 * act["upper_lip_raise"] * b) * (1 + 0.8 * np.clip(t, 0, None) * (asym > 0))) * profile
    lip_scale = _col((1 - 0.75 * act["lip_press"]) * b)
    upper_lip = 0.035 * lip_scale * (0.4 + 0.6 * profile)
    lower_lip = 0.05 * lip_scale * (0.4 + 0.6 * profile)
    skin = ident.skin_tone
    lips = _band_coverage(win.Y, seam - open_up - upper_lip, _where_in_span(t, seam + open_down + lower_lip, -9.0),
                          px)
    _blend(patch, lips, _col(skin * 0.68))
    cavity = _band_coverage(win.Y, seam - open_up, _where_in_span(t, seam + open_down, -9.0), px)
    _blend(patch, cavity, 0.06)
    seam_line = _band_coverage(win.Y, seam - 0.45 / px, _where_in_span(t * 1.05, seam + 0.45 / px, -9.0), px)
    _blend(patch, seam_line, _col(skin * 0.3))

    fold_strength = np.clip(0.7 * act["cheek_raise"] + 0.25 * np.clip(act["smile"], 0, None), 0, 0.85)
    fold_top, fold_bottom = lay.y(0.18), lay.y(mouth_v + 0.05)
    span = (win.Y - _col(fold_top)) / _col(fold_bottom - fold_top)        # 0 at the nose, 1 at the mouth
    in_span = (span > 0) & (span < 1)
    for side in (-1, 1):
        x_top = lay.x(side * 0.17)
        x_bottom = mouth_x + side * (half_width + 0.07 * a)
        x = _col(x_top) + _col(x_bottom - x_top) * span + side * _col(0.04 * a) * span * (1 - span)
        fold = _band_coverage(win.X, x - 0.45 / px, x + 0.45 / px, px)
        fold *= in_span * _col(fold_strength)
        _blend(patch, fold, _col(skin * 0.5))
    flat[win.flat] = patch


def _paint_glasses(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    """Round dark frames around both eyes and a bridge, for faces wearing glasses."""
    faces = np.flatnonzero(params.identity.glasses)
    if faces.size == 0:
        return
    px = size / 2
    flat = frames.reshape(-1)
    sub = params.take(faces)
    lay_sub = _layout_subset(lay, faces)
    ident = sub.identity
    tone = _col(np.full(faces.size, 0.08, dtype=np.float32))
    ey = lay_sub.y(-0.1)
    for side in (-1, 1):
        ex = lay_sub.x(side * ident.eye_spacing)
        rx = 0.27 * lay_sub.half_w * ident.eye_size * (1 - 0.3 * sub.yaw * side)
        ry = 0.16 * lay_sub.half_h * ident.eye_size
        win = _window(faces, ex, ey, 0.27, 0.19, size)
        patch = flat[win.flat]
        outer = _ellipse_coverage(win.X, win.Y, _col(ex), _col(ey), _col(rx), _col(ry), px)
        inner = _ellipse_coverage(win.X, win.Y, _col(ex), _col(ey), _col(rx - 1.2 / px), _col(ry - 1.2 / px), px)
        outer -= inner
        _blend(patch, outer, tone)
        flat[win.flat] = patch
    left, right = lay_sub.x(-ident.eye_spacing), lay_sub.x(ident.eye_spacing)
    bridge_x = (left + right) / 2
    bridge_half = np.clip((right - left) / 2 - 0.27 * lay_sub.half_w * ident.eye_size, 0, None) + 0.5 / px
    win = _window(faces, bridge_x, ey, 0.12, 0.05, size)
    patch = flat[win.flat]
    t = (win.X - _col(bridge_x)) / _col(bridge_half)
    y = _col(ey - 0.04 * lay_sub.half_h)
    _blend(patch, _band_coverage(win.Y, y - 0.5 / px, _where_in_span(t, y + 0.5 / px, -9.0), px), tone)
    flat[win.flat] = patch


def _layout_subset(lay: _Layout, faces: np.ndarray) -> _Layout:
    return _Layout(face_x=lay.face_x[faces], face_y=lay.face_y[faces], half_w=lay.half_w[faces],
                   half_h=lay.half_h[faces], squash=lay.squash[faces], shift=lay.shift[faces],
                   actions={k: v[faces] for k, v in lay.actions.items()})


def _paint_occluders(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    """A soft-edged box (a hand, a mug) over part of the face, for occluded faces only."""
    faces = np.flatnonzero(params.occluded)
    if faces.size == 0:
        return
    px = size / 2
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / px - 1)
    box = params.occluder[faces]
    a, b = lay.half_w[faces], lay.half_h[faces]
    cx = lay.face_x[faces] + box[:, 0] * a
    cy = lay.face_y[faces] + box[:, 1] * b
    col_cov = _band_coverage(grid[None, None, :], _col(cx - box[:, 2] * a), _col(cx + box[:, 2] * a), px)
    row_cov = _band_coverage(grid[None, :, None], _col(cy - box[:, 3] * b), _col(cy + box[:, 3] * b), px)
    # Shade the box from top to bottom so it reads as an object, not a hole.
    tone = _col(params.occluder_tone[faces]) * (1 + 0.15 * (grid[None, :, None] - _col(cy)))
    sub = frames[faces]
    _blend(sub, row_cov * col_cov, tone)
    frames[faces] = sub


def _light_and_noise(frames: np.ndarray, params: FaceParams, rng: np.random.Generator, size: int) -> np.ndarray:
    """Apply the lighting gradient and sensor noise; return uint8 frames."""
    n = len(params)
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / (size / 2) - 1)
    strength = params.light_strength * 255
    col_gain = _col(strength * np.cos(params.light_angle)) * grid[None, None, :]
    row_gain = _col(strength * np.sin(params.light_angle)) * grid[None, :, None] + 255
    gain = np.add(col_gain, row_gain, out=np.empty_like(frames))
    frames *= gain
    noise = np.frombuffer(rng.bytes(n * size * size), dtype=np.int8).reshape(n, size, size)
    # int8 uniform noise has sd 73.9; scale it to noise_sd gray levels (in 0-255 units).
    scaled = np.multiply(noise, _col(params.noise_sd * 255 / 73.9), out=gain)
    frames += scaled
    np.clip(frames, 0, 255, out=frames)
    return frames.astype(np.uint8)


def render_faces(params: FaceParams, rng: np.random.Generator, size: int = DEFAULT_SIZE) -> np.ndarray:
    """Render grayscale faces (n, size, size) uint8 for ``params``.

    Only the sensor noise draws from ``rng``; with ``noise_sd == 0`` the image
    depends on the parameters alone, and every face is rendered exactly as it
    would be alone.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    frames = np.empty((len(params), size, size), dtype=np.float32)
    lay = _layout(params)
    _paint_head(frames, params, lay, size)
    _paint_brows(frames, params, lay, size)
    _paint_eyes(frames, params, lay, size)
    _paint_glasses(frames, params, lay, size)
    _paint_nose(frames, params, lay, size)
    _paint_mouth(frames, params, lay, size)
    _paint_occluders(frames, params, lay, size)
    return _light_and_noise(frames, params, rng, size)
