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

Two engines draw the same frames, byte for byte: the numpy painters below (the reference), and compiled loops
(:mod:`vclass.sim.facekernels`, numba) that do each painter's pixel work in one call, with the per-face geometry
still computed here. ``render_faces(..., engine="auto")`` uses the compiled one where numba imports.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

EXPRESSIONS = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear")
ATTRIBUTES = ("eyes_closed", "yawning", "looking_away")
N_EXPRESSIONS = len(EXPRESSIONS)
N_ATTRIBUTES = len(ATTRIBUTES)
DEFAULT_SIZE = 64

ACTIONS = (
    "brow_raise",
    "brow_inner_raise",
    "eye_open",
    "smile",
    "mouth_open",
    "mouth_stretch",
    "lip_press",
    "upper_lip_raise",
    "asymmetry",
    "cheek_raise",
    "nose_wrinkle",
)
N_ACTIONS = len(ACTIONS)

# Action values at full intensity, one row per expression (columns follow ACTIONS).
EXPRESSION_ACTIONS = np.array(
    [
        # brow  inner  eye   smile  open  stretch press upper asym  cheek nose
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # neutral
        [0.1, 0.0, -0.35, 1.0, 0.3, 0.4, 0.0, 0.0, 0.0, 1.0, 0.0],  # happy
        [1.0, 0.0, 0.9, 0.0, 1.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0],  # surprise
        [-0.1, 1.0, -0.3, -0.9, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0],  # sad
        [-0.8, -1.0, -0.25, -0.2, 0.0, -0.2, 1.0, 0.0, 0.0, 0.0, 0.2],  # anger
        [-0.5, -0.3, -0.4, -0.4, 0.15, 0.0, 0.0, 1.0, 1.0, 0.3, 1.0],  # disgust
        [0.6, 0.8, 1.0, -0.3, 0.45, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0],  # fear
    ],
    dtype=np.float32,
)

# Yawning replaces whatever the mouth and eyes were doing with these actions.
YAWN_ACTIONS = {
    "mouth_open": 1.7,
    "mouth_stretch": -0.35,
    "smile": 0.0,
    "lip_press": 0.0,
    "upper_lip_raise": 0.0,
    "eye_open": -0.45,
}

HAIR_STYLES = ("bald", "short", "fringe", "long")

# Identity ranges (uniform unless noted). Units: face_width/height in image half-widths,
# eye_spacing / eye_size / mouth_width in face units, tones in [0, 1] gray.
FACE_WIDTH = (0.56, 0.72)
FACE_HEIGHT = (0.72, 0.88)
JAW_TAPER = (0.0, 0.3)
SKIN_TONE = (0.30, 0.85)
BACKGROUND_TONE = (0.05, 0.95)
HAIR_TONE = (0.03, 0.75)
EYE_SPACING = (0.34, 0.46)
EYE_SIZE = (0.85, 1.2)
MOUTH_WIDTH = (0.26, 0.36)
BROW_THICKNESS = (0.028, 0.05)
RESTING_FACE_SD = 0.1  # N(0, sd) per action: everyone's neutral face differs a little
# Per-frame nuisance ranges.
CENTER_JITTER = 0.08  # face centre moves U(-j, j) in x and in y
CENTER_Y = 0.06  # the head sits this much below the frame centre
SCALE_RANGE = (0.88, 1.1)  # distance to the camera
YAW_LOOKING = (0.45, 1.0)  # |yaw| when looking away
YAW_FACING = 0.15  # |yaw| at most when facing the camera
LIGHT_STRENGTH = (0.0, 0.4)  # multiplicative gradient, 1 +- strength across the frame
NOISE_SD = (0.01, 0.06)  # sensor noise sd in [0, 1] gray units
OCCLUDER_WIDTH = (0.5, 1.1)  # in face half-widths
OCCLUDER_HEIGHT = (0.4, 0.9)  # in face half-heights


@dataclass(frozen=True)
class FaceSampling:
    """Probabilities of the per-frame draws in :func:`sample_face_params`.

    :param intensity_beta: expression intensity ~ Beta(a, b); the default puts
        about 38% of faces below 0.3, where classes blur into neutral.
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

    face_width: np.ndarray  # head half-width in image half-widths
    face_height: np.ndarray  # head half-height
    jaw_taper: np.ndarray  # how much narrower the jaw is than the cheeks
    skin_tone: np.ndarray
    background_tone: np.ndarray
    hair_style: np.ndarray  # index into HAIR_STYLES
    hair_tone: np.ndarray
    eye_spacing: np.ndarray  # eye centre offset from the midline, face units
    eye_size: np.ndarray
    mouth_width: np.ndarray  # mouth half-width, face units
    brow_thickness: np.ndarray  # brow half-thickness, face units
    glasses: np.ndarray  # bool
    resting_actions: np.ndarray  # (n, N_ACTIONS) resting-face offsets

    def __len__(self) -> int:
        return self.face_width.shape[0]

    def take(self, index: np.ndarray | slice | int) -> FaceIdentity:
        """The identities at ``index`` (an int keeps a batch of one)."""
        index = _as_index(index)
        return FaceIdentity(**{name: getattr(self, name)[index] for name in _IDENTITY_FIELDS})


@dataclass
class FaceParams:
    """Everything :func:`render_faces` needs for n faces: an identity and one frame's state."""

    identity: FaceIdentity
    expression: np.ndarray  # int, index into EXPRESSIONS
    intensity: np.ndarray  # in [0, 1]
    eyes_closed: np.ndarray  # bool
    yawning: np.ndarray  # bool
    yaw: np.ndarray  # in [-1, 1]; |yaw| >= 0.45 reads as looking away
    center_x: np.ndarray  # face centre in image coordinates
    center_y: np.ndarray
    scale: np.ndarray  # multiplies the face size
    light_angle: np.ndarray  # direction of the lighting gradient, radians
    light_strength: np.ndarray
    noise_sd: np.ndarray
    occluded: np.ndarray  # bool
    occluder: np.ndarray  # (n, 4): centre u, centre v, half-width u, half-height v
    occluder_tone: np.ndarray

    def __len__(self) -> int:
        return self.expression.shape[0]

    def take(self, index: np.ndarray | slice | int) -> FaceParams:
        """The faces at ``index`` (an int keeps a batch of one)."""
        index = _as_index(index)
        values = {name: getattr(self, name)[index] for name in _FRAME_FIELDS}
        return FaceParams(identity=self.identity.take(index), **values)

    def replace(self, **changes: Any) -> FaceParams:
        """A copy with some per-frame fields replaced (arrays broadcast to n)."""
        n = len(self)
        converted = {
            k: np.broadcast_to(np.asarray(v), (n,) + np.shape(getattr(self, k))[1:]).copy() for k, v in changes.items()
        }
        return replace(self, **converted)  # type: ignore[arg-type]  # per-frame array fields only

    @property
    def looking_away(self) -> np.ndarray:
        return np.abs(self.yaw) >= YAW_LOOKING[0]

    def attributes(self) -> np.ndarray:
        """Attribute labels (n, 3) uint8 in :data:`ATTRIBUTES` order."""
        return np.stack([self.eyes_closed, self.yawning, self.looking_away], axis=1).astype(np.uint8)


_IDENTITY_FIELDS = tuple(f.name for f in fields(FaceIdentity))
_FRAME_FIELDS = tuple(f.name for f in fields(FaceParams) if f.name != "identity")  # FaceParams' own arrays


def concat_face_params(parts: Sequence[FaceParams]) -> FaceParams:
    """The faces of ``parts``, one after another, as one :class:`FaceParams`."""
    identity = FaceIdentity(
        **{name: np.concatenate([getattr(p.identity, name) for p in parts]) for name in _IDENTITY_FIELDS}
    )
    values = {name: np.concatenate([getattr(p, name) for p in parts]) for name in _FRAME_FIELDS}
    return FaceParams(identity=identity, **values)


class FaceBatch(NamedTuple):
    """A rendered training batch."""

    images: np.ndarray  # (n, size, size) uint8
    expressions: np.ndarray  # (n,) int64
    attributes: np.ndarray  # (n, 3) uint8
    intensity: np.ndarray  # (n,) float32


def _as_index(index: np.ndarray | slice | int) -> np.ndarray | slice:
    if isinstance(index, (int, np.integer)):
        return slice(int(index), int(index) + 1)
    return index


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n).astype(np.float32)


def sample_identities(n: int, rng: np.random.Generator, sampling: FaceSampling = DEFAULT_SAMPLING) -> FaceIdentity:
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


def sample_face_params(
    n: int,
    rng: np.random.Generator,
    *,
    identity: FaceIdentity | None = None,
    expression: np.ndarray | int | None = None,
    intensity: np.ndarray | float | None = None,
    eyes_closed: np.ndarray | bool | None = None,
    yawning: np.ndarray | bool | None = None,
    looking_away: np.ndarray | bool | None = None,
    sampling: FaceSampling = DEFAULT_SAMPLING,
) -> FaceParams:
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
    occluder = np.stack(
        [
            rng.uniform(-0.7, 0.7, n),
            rng.uniform(-0.3, 0.8, n),
            rng.uniform(*OCCLUDER_WIDTH, n) / 2,
            rng.uniform(*OCCLUDER_HEIGHT, n) / 2,
        ],
        axis=1,
    ).astype(np.float32)
    skin_like = rng.random(n) < 0.6
    occluder_tone = np.where(skin_like, identity.skin_tone * rng.uniform(0.85, 1.15, n), rng.uniform(0.05, 0.95, n))
    return FaceParams(
        identity=identity,
        expression=expression,
        intensity=_clip(intensity, 0, 1),
        eyes_closed=eyes_closed,
        yawning=yawning,
        yaw=yaw,
        center_x=_uniform(rng, (-CENTER_JITTER, CENTER_JITTER), n),
        center_y=_uniform(rng, (CENTER_Y - CENTER_JITTER, CENTER_Y + CENTER_JITTER), n),
        scale=_uniform(rng, SCALE_RANGE, n),
        light_angle=_uniform(rng, (0.0, 2 * np.pi), n),
        light_strength=_uniform(rng, LIGHT_STRENGTH, n),
        noise_sd=_uniform(rng, NOISE_SD, n),
        occluded=occluded,
        occluder=occluder,
        occluder_tone=_clip(occluder_tone, 0, 1).astype(np.float32),
    )


def sample_face_batch(
    n: int, rng: np.random.Generator, size: int = DEFAULT_SIZE, sampling: FaceSampling = DEFAULT_SAMPLING
) -> FaceBatch:
    """Render n labelled training faces, each with a fresh identity.

    Distributions: expression uniform over the seven classes; intensity ~
    Beta(1.1, 1.5) (mean 0.42, about 38% below 0.3); eyes closed 12%,
    yawning 8%, looking away 20%, independently; identity and nuisance as in
    :func:`sample_identities` and :func:`sample_face_params`.
    """
    params = sample_face_params(n, rng, sampling=sampling)
    images = render_faces(params, rng, size=size)
    return FaceBatch(
        images, params.expression.astype(np.int64), params.attributes(), params.intensity.astype(np.float32)
    )


# ----------------------------------------------------------------------------------------------
# Rendering

CHUNK = 256  # faces rendered together: small enough for the working buffers to stay in cache
_ZERO, _ONE = np.float32(0), np.float32(1)
_clip: np.ufunc = np._core.umath.clip  # type: ignore[attr-defined]  # the ufunc np.clip calls, without its wrapper (~5 us a call, ~70 calls a render)
# Where the parts sit at rest, in face units below (+) or above (-) the head centre.
EYE_V, BROW_V, NOSTRIL_V, MOUTH_V = -0.1, -0.31, 0.24, 0.5
_MAX_HALF_W = FACE_WIDTH[1] * SCALE_RANGE[1]  # largest head half-width, image units
_MAX_HALF_H = FACE_HEIGHT[1] * SCALE_RANGE[1]
# Half extents (u, v) of each part's window in face units, large enough for every action value.
_WINDOW_EXTENT = {
    "eye": (0.28, 0.18),
    "brow": (0.26, 0.14),
    "nose": (0.14, 0.18),
    "mouth": (0.52, 0.38),
    "fold": (0.21, 0.2),
    "glasses": (0.43, 0.21),
    "bridge": (0.2, 0.06),
}


def _col(values: np.ndarray) -> np.ndarray:
    """Per-face values as (n, 1, 1) float32, to broadcast over a frame or window."""
    return np.asarray(values, dtype=np.float32)[:, None, None]


@dataclass
class _Layout:
    """Per-face geometry in image coordinates, each (n,) float32, and the face's action values."""

    face_x: np.ndarray
    face_y: np.ndarray
    half_w: np.ndarray  # head half-width
    half_h: np.ndarray  # head half-height
    squash: np.ndarray  # horizontal compression of feature offsets under yaw
    shift: np.ndarray  # horizontal shift of features under yaw, face units
    actions: dict[str, np.ndarray]

    def x(self, u: np.ndarray | float) -> np.ndarray:
        """Image x of a feature at face-unit offset u from the midline (after yaw)."""
        return self.face_x + self.half_w * (u * self.squash + self.shift)

    def y(self, v: np.ndarray | float) -> np.ndarray:
        """Image y of a feature at face-unit offset v from the head centre."""
        return self.face_y + self.half_h * v

    def take(self, faces: np.ndarray) -> _Layout:
        return _Layout(
            self.face_x[faces],
            self.face_y[faces],
            self.half_w[faces],
            self.half_h[faces],
            self.squash[faces],
            self.shift[faces],
            {k: v[faces] for k, v in self.actions.items()},
        )


def _face_actions(params: FaceParams) -> dict[str, np.ndarray]:
    """Action values per face: resting face + intensity * expression row, yawning overriding the mouth."""
    values = params.identity.resting_actions + params.intensity[:, None] * EXPRESSION_ACTIONS[params.expression]
    actions = {name: values[:, i].astype(np.float32) for i, name in enumerate(ACTIONS)}
    for name, value in YAWN_ACTIONS.items():
        actions[name] = np.where(params.yawning, np.float32(value), actions[name])
    actions["mouth_open"] = _clip(actions["mouth_open"], 0, 1.7)
    actions["mouth_stretch"] = _clip(actions["mouth_stretch"], -0.6, 1.0)
    actions["eye_open"] = _clip(actions["eye_open"], -0.6, 1.2)
    actions["smile"] = _clip(actions["smile"], -1.2, 1.2)
    for name in ("brow_raise", "brow_inner_raise"):
        actions[name] = _clip(actions[name], -1.2, 1.2)
    for name in ("lip_press", "upper_lip_raise", "cheek_raise", "nose_wrinkle"):
        actions[name] = _clip(actions[name], 0, 1)
    actions["asymmetry"] = _clip(np.abs(actions["asymmetry"]), 0, 1)
    return actions


def _layout(params: FaceParams) -> _Layout:
    ident = params.identity
    yaw = params.yaw.astype(np.float32)
    return _Layout(
        face_x=params.center_x + 0.06 * yaw * ident.face_width,
        face_y=params.center_y.astype(np.float32),
        half_w=ident.face_width * params.scale * (1 - 0.08 * np.abs(yaw)),
        half_h=ident.face_height * params.scale,
        squash=1 - 0.25 * np.abs(yaw),
        shift=0.32 * yaw,
        actions=_face_actions(params),
    )


class _Window(NamedTuple):
    """Per-face pixel windows of one size: where they sit and their image coordinates."""

    faces: np.ndarray  # (m,) which frames of the stack
    row0: np.ndarray  # (m,) top-left pixel
    col0: np.ndarray
    X: np.ndarray  # (m, 1, w)
    Y: np.ndarray  # (m, h, 1)


def _window(faces: np.ndarray, center_x: np.ndarray, center_y: np.ndarray, part: str, size: int) -> _Window:
    """Windows of one fixed pixel size around per-face centres, clamped inside the frame.

    :param faces: which frames of the stack; the centres belong to those faces.
    :param part: key of :data:`_WINDOW_EXTENT`, the window's half extents in face units.
    """
    px = size / 2
    w, h, cols, rows = _window_shape(part, size)
    row0, col0 = _window_origin(center_x, center_y, w, h, size)
    X = ((col0[:, None] + cols) / px - 1).astype(np.float32)[:, None, :]
    Y = ((row0[:, None] + rows) / px - 1).astype(np.float32)[:, :, None]
    return _Window(faces, row0, col0, X, Y)


def _window_origin(
    center_x: np.ndarray, center_y: np.ndarray, w: int, h: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left pixels (row, column) of (h, w) windows centred on per-face image coordinates, clamped inside."""
    px = size / 2
    col0 = _clip(np.rint((center_x + 1) * px - 0.5).astype(np.intp) - w // 2, 0, size - w)
    row0 = _clip(np.rint((center_y + 1) * px - 0.5).astype(np.intp) - h // 2, 0, size - h)
    return row0, col0


@functools.cache
def _window_shape(part: str, size: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """A part's window width and height in pixels at this frame size, and its pixel centres' offsets (read-only)."""
    px = size / 2
    extent_u, extent_v = _WINDOW_EXTENT[part]
    w = min(size, 2 * int(np.ceil(extent_u * _MAX_HALF_W * px)) + 3)
    h = min(size, 2 * int(np.ceil(extent_v * _MAX_HALF_H * px)) + 3)
    cols, rows = np.arange(w) + 0.5, np.arange(h) + 0.5
    cols.flags.writeable = rows.flags.writeable = False
    return w, h, cols, rows


def _window_view(frames: np.ndarray, win: _Window) -> np.ndarray:
    """A writable view of every (h, w) window of every frame, indexed [face, row0, col0]."""
    n, size, _ = frames.shape
    h, w = win.Y.shape[1], win.X.shape[2]
    s = frames.strides
    return as_strided(frames, (n, size - h + 1, size - w + 1, h, w), (s[0], s[1], s[2], s[1], s[2]), writeable=True)


def _gather(frames: np.ndarray, win: _Window) -> np.ndarray:
    """Copies of the windows' pixels, (m, h, w)."""
    return _window_view(frames, win)[win.faces, win.row0, win.col0]


def _scatter(frames: np.ndarray, win: _Window, patch: np.ndarray) -> None:
    """Write painted windows back into their frames."""
    _window_view(frames, win)[win.faces, win.row0, win.col0] = patch


def _blend(
    canvas: np.ndarray, coverage: np.ndarray, tone: np.ndarray | float | np.floating, scratch: np.ndarray | None = None
) -> None:
    """canvas <- canvas + coverage * (tone - canvas), in place."""
    delta = np.subtract(tone, canvas, out=scratch, dtype=np.float32)
    delta *= coverage
    canvas += delta


def _outer_sum(rows: np.ndarray | float, cols: np.ndarray | float, out: np.ndarray | None = None) -> np.ndarray:
    """``rows + cols`` for rows (m, h, 1) and cols (m, 1, w) (either may be per face or scalar).

    Numpy broadcasting runs a short inner loop per row here; the batched
    matrix product [rows 1] @ [1; cols] gives the same sums (each term is
    multiplied by exactly 1) several times faster.
    """
    rows, cols = np.asarray(rows, dtype=np.float32), np.asarray(cols, dtype=np.float32)
    m = max(rows.shape[0] if rows.ndim == 3 else 1, cols.shape[0] if cols.ndim == 3 else 1)
    h = rows.shape[1] if rows.ndim == 3 else 1
    w = cols.shape[2] if cols.ndim == 3 else 1
    left = np.empty((m, h, 2), dtype=np.float32)
    left[:, :, :1] = rows
    left[:, :, 1] = 1
    right = np.empty((m, 2, w), dtype=np.float32)
    right[:, :1, :] = 1
    right[:, 1:, :] = cols
    return np.matmul(left, right, out=out)


def _ellipse_coverage(
    X: np.ndarray, Y: np.ndarray, cx: np.ndarray, cy: np.ndarray, rx: np.ndarray, ry: np.ndarray, px: float
) -> np.ndarray:
    """Antialiased coverage of axis-aligned ellipses (per-face (m, 1, 1) parameters).

    Uses the first-order signed distance (q - 1) * r / 2, exact at the rim,
    so edges are about one pixel soft.
    """
    k = np.minimum(rx, ry) * (px / 2)
    coverage = _outer_sum(-k * np.square((Y - cy) / ry), (0.5 + k) - k * np.square((X - cx) / rx))
    return _clip(coverage, _ZERO, _ONE, out=coverage)


def _band(
    coord: np.ndarray, middle: np.ndarray, half_width: np.ndarray | float, px: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Antialiased coverage of ``|coord - middle| < half_width``.

    ``coord`` is the window's X (m, 1, w) or Y (m, h, 1); ``middle`` and
    ``half_width`` may vary along the other axis or be one value per face.
    A negative half-width draws nothing, which :func:`_cut_outside` uses to
    end curves.
    """
    inside = np.asarray(half_width, dtype=np.float32) * np.float32(px) + np.float32(0.5)
    along_x = coord.shape[1] == 1
    if np.ndim(middle) == 3 and np.shape(middle)[1:] == (1, 1):
        # One middle per face: the distance depends on coord alone, one separable sum.
        distance = np.abs(coord - middle) * np.float32(-px)
        coverage = _outer_sum(inside, distance, out=out) if along_x else _outer_sum(distance, inside, out=out)
    else:
        offset = (
            _outer_sum(-middle * px, coord * px, out=out) if along_x else _outer_sum(coord * px, -middle * px, out=out)
        )
        distance = np.abs(offset, out=offset)
        coverage = np.subtract(inside, distance, out=distance)
    return _clip(coverage, _ZERO, _ONE, out=coverage)


def _cut_outside(t: np.ndarray, half_width: np.ndarray | float) -> np.ndarray:
    """``half_width`` where |t| < 1, else negative: ends a band at t = +-1."""
    return np.where(np.abs(t) < 1, np.float32(half_width), np.float32(-9.0))


def _paint_head(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """Background, hair mass, then skin: a tapered ellipse below a curved hairline.

    Both shapes are drawn row by row as horizontal spans (a half-width per
    row), so the full-frame work is a few array operations.
    """
    ident = params.identity
    px = size / 2
    grid = _grid(size)
    X, Y = np.broadcast_to(grid[None, None, :], (len(params), 1, size)), grid[None, :, None]
    coverage = scratch[0]

    style = ident.hair_style
    long_hair = style == HAIR_STYLES.index("long")
    hair_rx = lay.half_w * np.where(long_hair, 1.22, 1.1)
    hair_ry = lay.half_h * np.where(long_hair, 1.25, 1.03)
    hair_cy = np.where(
        style == HAIR_STYLES.index("bald"),
        -9.0,  # bald: no hair in the frame
        lay.face_y + lay.half_h * np.where(long_hair, 0.22, -0.1),
    )
    hair_cx = lay.face_x - 0.05 * params.yaw * lay.half_w
    hair_span = _col(hair_rx) * np.sqrt(np.maximum(1 - np.square((Y - _col(hair_cy)) / _col(hair_ry)), 0))
    _band(X, _col(hair_cx), np.where(hair_span > 0, hair_span, -1), px, out=coverage)
    background = _col(ident.background_tone)
    np.multiply(coverage, _col(ident.hair_tone) - background, out=frames)
    frames += background

    # Skin spans: the head ellipse, narrowed below the cheeks by the jaw taper, and above the
    # hairline only as wide as the hairline curve v = hairline + 0.35 u^2 allows.
    v = (Y - _col(lay.face_y)) / _col(lay.half_h)  # (n, H, 1)
    jaw = 1 - _col(ident.jaw_taper) * np.square(_clip(v, 0, 1))
    head_span = np.sqrt(np.maximum(1 - np.square(v), 0)) * jaw
    hairline_v = np.select(
        [style == HAIR_STYLES.index("fringe"), style != HAIR_STYLES.index("bald")], [-0.42, -0.62], -3.0
    )
    hairline_span = np.sqrt(np.maximum(v - _col(hairline_v), 0) / 0.35)
    skin_span = _col(lay.half_w) * np.minimum(head_span, hairline_span)
    _band(X, _col(lay.face_x), np.where(skin_span > 0, skin_span, -1), px, out=coverage)
    _blend(frames, coverage, _col(ident.skin_tone), scratch=scratch[1])


@functools.cache
def _grid(size: int) -> np.ndarray:
    """Image coordinates (float32) of a frame's pixel centres along one axis (read-only)."""
    grid = (np.arange(size, dtype=np.float32) + 0.5) / (size / 2) - 1
    grid.flags.writeable = False
    return grid


def _sides(n: int):
    """Left (-1) then right (+1), each as an array over n faces.

    Paired parts are drawn one side at a time: the two windows of a narrow or
    turned face can overlap, and a window written back whole would erase the
    other side's strokes.
    """
    for side in (-1.0, 1.0):
        yield np.full(n, side, dtype=np.float32)


def _paint_brows(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """Brows as tapered thick curves: ``brow_raise`` lifts them, ``brow_inner_raise`` tilts the inner ends.

    A negative inner raise (anger) also draws the brows together.
    """
    px = size / 2
    faces = np.arange(len(params))
    act, ident = lay.actions, params.identity
    inward = 0.035 * np.maximum(-act["brow_inner_raise"], 0)
    by = lay.y(BROW_V - 0.13 * act["brow_raise"])
    half_len = _col(0.2 * lay.half_w * lay.squash)
    tilt = _col(0.05 * lay.half_h * act["brow_inner_raise"])
    arch = _col(0.03 * lay.half_h)
    thickness = _col(ident.brow_thickness * lay.half_h)
    tone = _col(np.minimum(ident.hair_tone, ident.skin_tone) * 0.7)
    for side in _sides(len(params)):
        bx = lay.x(side * (ident.eye_spacing - inward))
        win = _window(faces, bx, by, "brow", size)
        patch = _gather(frames, win)
        t_in = -_col(side) * (win.X - _col(bx)) / half_len  # +1 at the inner end
        centre = _col(by) - tilt * t_in + arch * np.square(t_in)
        half_thick = _cut_outside(t_in, thickness * (0.7 + 0.3 * t_in))
        _blend(patch, _band(win.Y, centre, half_thick, px), tone)
        _scatter(frames, win, patch)


def _paint_eyes(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """Sclera, iris and upper-lid line; a closed eye keeps only a drooping lid line.

    ``eye_open`` scales the opening (wide for surprise and fear, narrow for
    anger and disgust); ``cheek_raise`` pushes the lower lid up; the iris
    follows the head turn.
    """
    px = size / 2
    faces = np.arange(len(params))
    act, ident = lay.actions, params.identity
    nominal_h = 0.085 * lay.half_h * ident.eye_size
    upper_h = nominal_h * (1 + 0.7 * act["eye_open"]) * ~params.eyes_closed
    lower_h = upper_h * (0.75 - 0.4 * act["cheek_raise"])
    half_open = _col((upper_h + lower_h) / 2)
    ey = lay.y(EYE_V - 0.03 * act["cheek_raise"])
    iris_r = _col(0.5 * nominal_h)
    droop = _col(0.35 * nominal_h * params.eyes_closed)
    sclera_tone = _col(np.minimum(ident.skin_tone * 1.2 + 0.15, 0.97))
    lid_tone = _col(ident.skin_tone * 0.3)
    for side in _sides(len(params)):
        ex = lay.x(side * ident.eye_spacing)
        ew = 0.17 * lay.half_w * ident.eye_size * (1 - 0.3 * params.yaw * side)
        win = _window(faces, ex, ey, "eye", size)
        patch = _gather(frames, win)
        t = (win.X - _col(ex)) / _col(ew)  # (m, 1, w), -1..1 across the eye
        profile = np.maximum(1 - np.square(t), 0)
        top = _col(ey) - _col(upper_h) * profile
        opening = _band(win.Y, top + half_open * profile, _cut_outside(t, half_open * profile), px)
        _blend(patch, opening, sclera_tone)
        iris = _ellipse_coverage(win.X, win.Y, _col(ex + 0.4 * ew * params.yaw), _col(ey), iris_r, iris_r, px)
        iris *= opening
        _blend(patch, iris, 0.08)
        _blend(patch, _band(win.Y, top + droop * profile, _cut_outside(t, 0.45 / px), px), lid_tone)
        _scatter(frames, win, patch)


def _paint_nose(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """Nostrils, a faint ridge shadow and, with ``nose_wrinkle``, wrinkles across the bridge."""
    px = size / 2
    act = lay.actions
    skin = params.identity.skin_tone
    nose_x = lay.x(0.0) + 0.1 * params.yaw * lay.half_w
    win = _window(np.arange(len(params)), nose_x, lay.y(0.12), "nose", size)
    patch = _gather(frames, win)
    dark = _col(skin * 0.45)
    nostril_y = lay.y(NOSTRIL_V - 0.03 * act["nose_wrinkle"])
    nostril_r = _col(0.032 * lay.half_w)
    for side in (-1, 1):
        nx = _col(nose_x + side * 0.075 * lay.half_w * lay.squash)
        _blend(patch, _ellipse_coverage(win.X, win.Y, nx, _col(nostril_y), nostril_r, nostril_r * 0.7, px), dark)
    ridge_top = lay.y(-0.02)
    ridge_x = _col(nose_x + 0.08 * lay.half_w * np.sign(params.yaw + 1e-3))
    on_ridge = (win.Y > _col(ridge_top)) & (win.Y < _col(nostril_y))  # (m, h, 1)
    _blend(patch, _band(win.X, ridge_x, np.where(on_ridge, np.float32(0.4 / px), np.float32(-1)), px), _col(skin * 0.8))
    t = (win.X - _col(nose_x)) / _col(0.09 * lay.half_w)
    wrinkle_half = _cut_outside(t, 0.5 / px)
    strength = _col(0.75 * act["nose_wrinkle"])
    for v in (-0.02, 0.05):
        wrinkle = _band(win.Y, _col(lay.y(v)), wrinkle_half, px)
        wrinkle *= strength
        _blend(patch, wrinkle, dark)
    _scatter(frames, win, patch)


def _mouth_geometry(params: FaceParams, lay: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """Mouth centre x and half-width (image units) of each face."""
    mouth_x = lay.x(0.0) + 0.05 * params.yaw * lay.half_w
    half_width = params.identity.mouth_width * (1 + 0.3 * lay.actions["mouth_stretch"]) * lay.half_w * lay.squash
    return mouth_x, half_width


def _paint_mouth(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """Lips, mouth opening and seam.

    The seam is a parabola whose corners rise with ``smile`` (fall when
    negative) and, with ``asymmetry``, rise more on one side; the opening
    grows down with ``mouth_open`` and up with ``upper_lip_raise``;
    ``lip_press`` thins the lips; ``mouth_stretch`` widens the mouth.
    """
    px = size / 2
    act = lay.actions
    b = lay.half_h
    mouth_x, half_width = _mouth_geometry(params, lay)
    win = _window(np.arange(len(params)), mouth_x, lay.y(MOUTH_V + 0.08), "mouth", size)
    patch = _gather(frames, win)
    t = (win.X - _col(mouth_x)) / _col(half_width)  # (m, 1, w)
    t2 = np.square(t)
    profile = np.maximum(1 - t2, 0)
    right = np.maximum(t, 0)
    seam = (
        _col(lay.y(MOUTH_V))
        - _col(0.11 * act["smile"] * b) * (t2 - 0.3)
        - _col(0.08 * act["asymmetry"] * b) * np.square(right)
    )
    open_down = _col(0.17 * act["mouth_open"] * b) * profile
    open_up = (
        _col(0.05 * act["mouth_open"] * b)
        + _col(0.07 * act["upper_lip_raise"] * b) * (1 + 0.8 * right * _col(act["asymmetry"]))
    ) * profile
    lip_scale = _col((1 - 0.75 * act["lip_press"]) * b) * (0.4 + 0.6 * profile)
    skin = _col(params.identity.skin_tone)
    lip_top = seam - open_up - 0.035 * lip_scale
    lip_bottom = seam + open_down + 0.05 * lip_scale
    lips = _band(win.Y, (lip_top + lip_bottom) / 2, _cut_outside(t, (lip_bottom - lip_top) / 2), px)
    _blend(patch, lips, skin * 0.68)
    # The opening is at least a thin dark seam, so a closed mouth still shows where the lips meet.
    cavity_half = _cut_outside(t * 1.05, np.maximum((open_down + open_up) / 2, 0.45 / px))
    _blend(patch, _band(win.Y, seam + (open_down - open_up) / 2, cavity_half, px), skin * 0.15)
    _scatter(frames, win, patch)


def _paint_folds(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """Nasolabial folds from the nose wings to the mouth corners, deepening with ``cheek_raise``."""
    strength = _clip(0.7 * lay.actions["cheek_raise"] + 0.25 * np.maximum(lay.actions["smile"], 0), 0, 0.85)
    faces = np.flatnonzero(strength > 0.02)
    if faces.size == 0:
        return
    px = size / 2
    sub, lay = params.take(faces), lay.take(faces)
    mouth_x, half_width = _mouth_geometry(sub, lay)
    top, bottom = lay.y(0.18), lay.y(MOUTH_V + 0.05)
    tone = _col(sub.identity.skin_tone * 0.5)
    for side in _sides(faces.size):
        x_top = lay.x(side * 0.17)
        x_bottom = mouth_x + side * (half_width + 0.07 * lay.half_w)
        win = _window(faces, (x_top + x_bottom) / 2, (top + bottom) / 2, "fold", size)
        patch = _gather(frames, win)
        span = (win.Y - _col(top)) / _col(bottom - top)  # (m, h, 1), 0 at the nose, 1 at the mouth
        x = _col(x_top) + _col(x_bottom - x_top) * span + _col(side * 0.04 * lay.half_w) * span * (1 - span)
        fold = _band(win.X, x, _cut_outside(2 * span - 1, 0.45 / px), px)
        fold *= _col(strength[faces])
        _blend(patch, fold, tone)
        _scatter(frames, win, patch)


def _paint_glasses(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """Round dark frames around both eyes and a bridge, for faces wearing glasses."""
    faces = np.flatnonzero(params.identity.glasses)
    if faces.size == 0:
        return
    px = size / 2
    tone = np.float32(0.08)
    sub, lay = params.take(faces), lay.take(faces)
    ident = sub.identity
    ring_w = 0.27 * lay.half_w * ident.eye_size
    ey = lay.y(EYE_V)
    ry = _col(0.16 * lay.half_h * ident.eye_size)
    for side in _sides(faces.size):
        ex = lay.x(side * ident.eye_spacing)
        rx = _col(ring_w * (1 - 0.3 * sub.yaw * side))
        win = _window(faces, ex, ey, "glasses", size)
        patch = _gather(frames, win)
        ring = _ellipse_coverage(win.X, win.Y, _col(ex), _col(ey), rx, ry, px)
        ring -= _ellipse_coverage(win.X, win.Y, _col(ex), _col(ey), rx - 1.2 / px, ry - 1.2 / px, px)
        _blend(patch, ring, tone)
        _scatter(frames, win, patch)
    left, right = lay.x(-ident.eye_spacing), lay.x(ident.eye_spacing)
    bridge_x = (left + right) / 2
    bridge_half = np.maximum((right - left) / 2 - ring_w, 0) + 0.5 / px
    bridge_y = lay.y(EYE_V - 0.04)
    win = _window(faces, bridge_x, bridge_y, "bridge", size)
    patch = _gather(frames, win)
    t = (win.X - _col(bridge_x)) / _col(bridge_half)
    _blend(patch, _band(win.Y, _col(bridge_y), _cut_outside(t, 0.5 / px), px), tone)
    _scatter(frames, win, patch)


def _paint_occluders(frames: np.ndarray, params: FaceParams, lay: _Layout, size: int, scratch: np.ndarray) -> None:
    """A soft-edged box (a hand, a mug) over part of the face, for occluded faces only."""
    faces = np.flatnonzero(params.occluded)
    if faces.size == 0:
        return
    px = size / 2
    grid = _grid(size)
    box = params.occluder[faces]
    a, b = lay.half_w[faces], lay.half_h[faces]
    cx = _col(lay.face_x[faces] + box[:, 0] * a)
    cy = _col(lay.face_y[faces] + box[:, 1] * b)
    col_cov = _band(np.broadcast_to(grid[None, None, :], (faces.size, 1, size)), cx, _col(box[:, 2] * a), px)
    row_cov = _band(np.broadcast_to(grid[None, :, None], (faces.size, size, 1)), cy, _col(box[:, 3] * b), px)
    # Shade the box from top to bottom so it reads as an object, not a hole.
    tone = _col(params.occluder_tone[faces]) * (1 + 0.15 * (grid[None, :, None] - cy))
    sub = frames[faces]
    _blend(sub, row_cov * col_cov, tone)
    frames[faces] = sub


def _noise(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Uniform int8 sensor noise (n, size * size) for n faces, drawn exactly as :func:`render_faces` draws it for a
    batch of n: one draw per chunk of :data:`CHUNK` faces. Raw generator output viewed as bytes is uniform int8, far
    faster than any distribution method."""
    parts = [np.zeros((0, size * size), dtype=np.int8)]
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        raw = rng.bit_generator.random_raw(-(-m * size * size // 8))
        parts.append(raw.view(np.int8)[: m * size * size].reshape(m, size * size))
    return parts[1] if len(parts) == 2 else np.concatenate(parts)


def _light_and_noise(
    frames: np.ndarray, params: FaceParams, noise: np.ndarray, size: int, scratch: np.ndarray, out: np.ndarray
) -> None:
    """Apply the lighting gradient and the sensor noise ``noise`` (int8, one row a face); write uint8 frames to
    ``out``."""
    n = len(params)
    grid = _grid(size)
    strength = params.light_strength * 255
    col_gain = _col(strength * np.cos(params.light_angle)) * grid[None, None, :]
    row_gain = _col(strength * np.sin(params.light_angle)) * grid[None, :, None] + 255
    frames *= _outer_sum(row_gain, col_gain, out=scratch[0])
    # int8 uniform noise has sd 73.9; scale it to noise_sd in 0-255 gray levels.
    scaled = np.multiply(noise, (params.noise_sd * np.float32(255 / 73.9))[:, None], out=scratch[1].reshape(n, -1))
    frames += scaled.reshape(n, size, size)
    _clip(frames, 0, 255, out=frames)
    np.copyto(out, frames, casting="unsafe")


_PAINTERS = (
    _paint_head,
    _paint_eyes,
    _paint_brows,
    _paint_glasses,
    _paint_nose,
    _paint_mouth,
    _paint_folds,
    _paint_occluders,
)


# -- the compiled painters -------------------------------------------------------------------------------------------
# The same parts as the numpy painters above, in the same order: each computes its per-face geometry here, with the
# numpy painter's expressions (and so its dtypes and roundings), and hands the pixel work to one compiled loop of
# vclass.sim.facekernels. tests/test_faces.py checks that both give the same frames, byte for byte.


def _f32(values: np.ndarray) -> np.ndarray:
    """Per-face values (m,) as float32 (what :func:`_col` gives, without the trailing axes)."""
    return np.asarray(values, dtype=np.float32)


def _origins(
    center_x: np.ndarray, center_y: np.ndarray, part: str, size: int
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """A part's windows: top-left rows and columns (per face), height and width."""
    w, h, _, _ = _window_shape(part, size)
    row0, col0 = _window_origin(center_x, center_y, w, h, size)
    return row0, col0, h, w


def _head_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    ident = params.identity
    style = ident.hair_style
    long_hair = style == HAIR_STYLES.index("long")
    hair_cy = np.where(
        style == HAIR_STYLES.index("bald"), -9.0, lay.face_y + lay.half_h * np.where(long_hair, 0.22, -0.1)
    )
    hairline_v = np.select(
        [style == HAIR_STYLES.index("fringe"), style != HAIR_STYLES.index("bald")], [-0.42, -0.62], -3.0
    )
    kernels.paint_head(
        frames,
        size / 2,
        _grid(size),
        _f32(lay.face_x - 0.05 * params.yaw * lay.half_w),
        _f32(hair_cy),
        _f32(lay.half_w * np.where(long_hair, 1.22, 1.1)),
        _f32(lay.half_h * np.where(long_hair, 1.25, 1.03)),
        _f32(ident.hair_tone),
        _f32(ident.background_tone),
        _f32(lay.face_x),
        _f32(lay.face_y),
        _f32(lay.half_w),
        _f32(lay.half_h),
        _f32(ident.jaw_taper),
        _f32(hairline_v),
        _f32(ident.skin_tone),
    )


def _eyes_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    px = size / 2
    act, ident = lay.actions, params.identity
    nominal_h = 0.085 * lay.half_h * ident.eye_size
    upper_h = nominal_h * (1 + 0.7 * act["eye_open"]) * ~params.eyes_closed
    lower_h = upper_h * (0.75 - 0.4 * act["cheek_raise"])
    half_open = _f32((upper_h + lower_h) / 2)
    ey = lay.y(EYE_V - 0.03 * act["cheek_raise"])
    iris_r = _f32(0.5 * nominal_h)
    droop = _f32(0.35 * nominal_h * params.eyes_closed)
    sclera_tone = _f32(np.minimum(ident.skin_tone * 1.2 + 0.15, 0.97))
    lid_tone = _f32(ident.skin_tone * 0.3)
    for side in _sides(len(params)):
        ex = lay.x(side * ident.eye_spacing)
        ew = 0.17 * lay.half_w * ident.eye_size * (1 - 0.3 * params.yaw * side)
        row0, col0, h, w = _origins(ex, ey, "eye", size)
        kernels.paint_eye(
            frames, px, row0, col0, h, w, _f32(ex), _f32(ew), _f32(ey), _f32(upper_h), half_open,
            _f32(ex + 0.4 * ew * params.yaw), iris_r, droop, sclera_tone, lid_tone, np.float32(0.45 / px),
        )  # fmt: skip


def _brows_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    act, ident = lay.actions, params.identity
    inward = 0.035 * np.maximum(-act["brow_inner_raise"], 0)
    by = lay.y(BROW_V - 0.13 * act["brow_raise"])
    half_len = _f32(0.2 * lay.half_w * lay.squash)
    tilt = _f32(0.05 * lay.half_h * act["brow_inner_raise"])
    arch = _f32(0.03 * lay.half_h)
    thickness = _f32(ident.brow_thickness * lay.half_h)
    tone = _f32(np.minimum(ident.hair_tone, ident.skin_tone) * 0.7)
    for side in _sides(len(params)):
        bx = lay.x(side * (ident.eye_spacing - inward))
        row0, col0, h, w = _origins(bx, by, "brow", size)
        kernels.paint_brow(
            frames, size / 2, row0, col0, h, w, side, _f32(bx), _f32(by), half_len, tilt, arch, thickness, tone
        )


def _glasses_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    faces = np.flatnonzero(params.identity.glasses)
    if faces.size == 0:
        return
    px = size / 2
    sub, lay = params.take(faces), lay.take(faces)
    ident = sub.identity
    ring_w = 0.27 * lay.half_w * ident.eye_size
    ey = lay.y(EYE_V)
    ry = _f32(0.16 * lay.half_h * ident.eye_size)
    for side in _sides(faces.size):
        ex = lay.x(side * ident.eye_spacing)
        rx = _f32(ring_w * (1 - 0.3 * sub.yaw * side))
        row0, col0, h, w = _origins(ex, ey, "glasses", size)
        kernels.paint_ring(
            frames, faces, px, row0, col0, h, w, _f32(ex), _f32(ey), rx, ry, _f32(rx - 1.2 / px), _f32(ry - 1.2 / px)
        )
    left, right = lay.x(-ident.eye_spacing), lay.x(ident.eye_spacing)
    bridge_x = (left + right) / 2
    bridge_half = np.maximum((right - left) / 2 - ring_w, 0) + 0.5 / px
    bridge_y = lay.y(EYE_V - 0.04)
    row0, col0, h, w = _origins(bridge_x, bridge_y, "bridge", size)
    kernels.paint_bridge(
        frames, faces, px, row0, col0, h, w, _f32(bridge_x), _f32(bridge_half), _f32(bridge_y), np.float32(0.5 / px)
    )


def _nose_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    px = size / 2
    act = lay.actions
    skin = params.identity.skin_tone
    nose_x = lay.x(0.0) + 0.1 * params.yaw * lay.half_w
    row0, col0, h, w = _origins(nose_x, lay.y(0.12), "nose", size)
    nostril_y = lay.y(NOSTRIL_V - 0.03 * act["nose_wrinkle"])
    nostril_r = _f32(0.032 * lay.half_w)
    nostril_x = np.stack([_f32(nose_x + side * 0.075 * lay.half_w * lay.squash) for side in (-1, 1)], axis=1)
    wrinkle_y = np.stack([_f32(lay.y(v)) for v in (-0.02, 0.05)], axis=1)
    kernels.paint_nose(
        frames, px, row0, col0, h, w, nostril_x, _f32(nostril_y), nostril_r, _f32(nostril_r * np.float32(0.7)),
        _f32(skin * 0.45), _f32(lay.y(-0.02)), _f32(nose_x + 0.08 * lay.half_w * np.sign(params.yaw + 1e-3)),
        np.float32(0.4 / px), _f32(skin * 0.8), _f32(nose_x), _f32(0.09 * lay.half_w), np.float32(0.5 / px),
        wrinkle_y, _f32(0.75 * act["nose_wrinkle"]),
    )  # fmt: skip


def _mouth_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    px = size / 2
    act = lay.actions
    b = lay.half_h
    mouth_x, half_width = _mouth_geometry(params, lay)
    row0, col0, h, w = _origins(mouth_x, lay.y(MOUTH_V + 0.08), "mouth", size)
    kernels.paint_mouth(
        frames, px, row0, col0, h, w, _f32(mouth_x), _f32(half_width), _f32(lay.y(MOUTH_V)),
        _f32(0.11 * act["smile"] * b), _f32(0.08 * act["asymmetry"] * b), _f32(0.17 * act["mouth_open"] * b),
        _f32(0.05 * act["mouth_open"] * b), _f32(0.07 * act["upper_lip_raise"] * b), _f32(act["asymmetry"]),
        _f32((1 - 0.75 * act["lip_press"]) * b), _f32(params.identity.skin_tone), np.float32(0.45 / px),
    )  # fmt: skip


def _folds_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    strength = _clip(0.7 * lay.actions["cheek_raise"] + 0.25 * np.maximum(lay.actions["smile"], 0), 0, 0.85)
    faces = np.flatnonzero(strength > 0.02)
    if faces.size == 0:
        return
    px = size / 2
    sub, lay = params.take(faces), lay.take(faces)
    mouth_x, half_width = _mouth_geometry(sub, lay)
    top, bottom = lay.y(0.18), lay.y(MOUTH_V + 0.05)
    tone = _f32(sub.identity.skin_tone * 0.5)
    for side in _sides(faces.size):
        x_top = lay.x(side * 0.17)
        x_bottom = mouth_x + side * (half_width + 0.07 * lay.half_w)
        row0, col0, h, w = _origins((x_top + x_bottom) / 2, (top + bottom) / 2, "fold", size)
        kernels.paint_fold(
            frames, faces, px, row0, col0, h, w, _f32(top), _f32(bottom - top), _f32(x_top), _f32(x_bottom - x_top),
            _f32(side * 0.04 * lay.half_w), np.float32(0.45 / px), _f32(strength[faces]), tone,
        )  # fmt: skip


def _occluders_compiled(kernels: Any, frames: np.ndarray, params: FaceParams, lay: _Layout, size: int) -> None:
    faces = np.flatnonzero(params.occluded)
    if faces.size == 0:
        return
    box = params.occluder[faces]
    a, b = lay.half_w[faces], lay.half_h[faces]
    kernels.paint_occluder(
        frames, faces, size / 2, _grid(size), _f32(lay.face_x[faces] + box[:, 0] * a),
        _f32(lay.face_y[faces] + box[:, 1] * b), _f32(box[:, 2] * a), _f32(box[:, 3] * b),
        _f32(params.occluder_tone[faces]),
    )  # fmt: skip


def _light_and_noise_compiled(
    kernels: Any, frames: np.ndarray, params: FaceParams, noise: np.ndarray, size: int, out: np.ndarray
) -> None:
    strength = params.light_strength * 255
    kernels.light_and_noise(
        frames,
        _grid(size),
        _f32(strength * np.cos(params.light_angle)),
        _f32(strength * np.sin(params.light_angle)),
        np.ascontiguousarray(noise),
        _f32(params.noise_sd * np.float32(255 / 73.9)),
        out,
    )


_COMPILED_PAINTERS = (
    _head_compiled,
    _eyes_compiled,
    _brows_compiled,
    _glasses_compiled,
    _nose_compiled,
    _mouth_compiled,
    _folds_compiled,
    _occluders_compiled,
)


ENGINES = ("auto", "compiled", "numpy")


@functools.cache
def _compiled_kernels() -> Any:
    """:mod:`vclass.sim.facekernels`, or None where numba does not import (the numpy painters then render)."""
    try:
        from vclass.sim import facekernels
    except (ImportError, OSError):  # OSError: llvmlite's shared library does not load here
        return None
    return facekernels


def compiled_renderer_available() -> bool:
    """Whether the compiled renderer (numba) works here; ``engine="auto"`` uses it when it does."""
    return _compiled_kernels() is not None


def render_faces(
    params: FaceParams, rng: np.random.Generator, size: int = DEFAULT_SIZE, engine: str = "auto"
) -> np.ndarray:
    """Render grayscale faces (n, size, size) uint8 for ``params``.

    Only the sensor noise draws from ``rng``; with ``noise_sd == 0`` an image
    depends on its own parameters alone, so a face renders the same in any batch.

    :param engine: ``compiled`` (numba loops, :mod:`vclass.sim.facekernels`), ``numpy`` (the array painters), or
        ``auto``: compiled where numba imports. Both give the same bytes.
    """
    return _render(params, lambda start, m: _noise(rng, m, size), size, engine)


def render_face_groups(
    groups: Sequence[tuple[FaceParams, np.random.Generator]], size: int = DEFAULT_SIZE, engine: str = "auto"
) -> np.ndarray:
    """Render several groups of faces in one batch, each group's sensor noise from its own generator: the frames
    are, byte for byte, what :func:`render_faces` gives each group on its own (with the generators in the same
    states), at the cost of one larger batch. Many classrooms' frames of a tick are rendered so
    (:class:`vclass.env.batch.RecognitionService`).

    :param groups: (params, rng) per group, in the order of the returned frames; a group may be empty.
    :param engine: as :func:`render_faces`.
    """
    if not groups:
        return np.zeros((0, size, size), dtype=np.uint8)
    noise = np.concatenate([_noise(rng, len(params), size) for params, rng in groups])
    params = concat_face_params([params for params, _ in groups])
    return _render(params, lambda start, m: noise[start : start + m], size, engine)


def _render(params: FaceParams, noise: Callable[[int, int], np.ndarray], size: int, engine: str) -> np.ndarray:
    """Render ``params`` chunk by chunk; ``noise(start, m)`` gives the int8 noise of faces start..start+m."""
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    kernels = _compiled_kernels() if engine != "numpy" else None
    if engine == "compiled" and kernels is None:
        raise RuntimeError("the compiled face renderer needs numba, which does not import here")
    n = len(params)
    if kernels is not None:
        images = np.empty((n, size, size), dtype=np.uint8)
        frames = np.empty((min(n, CHUNK), size, size), dtype=np.float32)
        for start in range(0, n, CHUNK):
            chunk = params if n <= CHUNK else params.take(slice(start, start + CHUNK))
            m = len(chunk)
            lay = _layout(chunk)
            for painter in _COMPILED_PAINTERS:
                painter(kernels, frames[:m], chunk, lay, size)
            _light_and_noise_compiled(kernels, frames[:m], chunk, noise(start, m), size, images[start : start + m])
        return images
    images = np.empty((n, size, size), dtype=np.uint8)
    buffers = np.empty((3, min(n, CHUNK), size, size), dtype=np.float32)
    for start in range(0, n, CHUNK):  # chunks of faces, not single faces: keeps buffers in cache
        chunk = params.take(slice(start, start + CHUNK))
        m = len(chunk)
        frames, scratch = buffers[0, :m], buffers[1:, :m]
        lay = _layout(chunk)
        for paint in _PAINTERS:
            paint(frames, chunk, lay, size, scratch)
        _light_and_noise(frames, chunk, noise(start, m), size, scratch, images[start : start + m])
    return images
