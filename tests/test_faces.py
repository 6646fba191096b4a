"""The face renderer (sim/faces.py): shapes, determinism, vectorization, and faces that read as intended."""

from __future__ import annotations

import numpy as np
import pytest

from vclass.sim.faces import (
    ATTRIBUTES,
    EXPRESSION_ACTIONS,
    EXPRESSIONS,
    FaceParams,
    compiled_renderer_available,
    render_face_groups,
    render_faces,
    sample_face_batch,
    sample_face_params,
    sample_identities,
)

SIZE = 64


def clean_params(n: int, seed: int = 0, **given) -> FaceParams:
    """Faces without sensor noise, lighting or occlusion, facing the camera unless told otherwise."""
    rng = np.random.default_rng(seed)
    defaults = {"eyes_closed": False, "yawning": False, "looking_away": False}
    params = sample_face_params(n, rng, **{**defaults, **given})
    return params.replace(noise_sd=0.0, light_strength=0.0, occluded=False)


def render(params: FaceParams, size: int = SIZE) -> np.ndarray:
    return render_faces(params, np.random.default_rng(0), size=size).astype(np.float64)


def pixel_row(y: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Pixel row of image coordinate y in [-1, 1]."""
    return (np.asarray(y) + 1) * size / 2


@pytest.mark.parametrize("size", [64, 48])
def test_render_gives_uint8_frames_of_the_requested_size_with_real_content(size):
    batch = sample_face_batch(32, np.random.default_rng(1), size=size)
    assert batch.images.shape == (32, size, size)
    assert batch.images.dtype == np.uint8
    assert batch.images.std(axis=(1, 2)).min() > 5  # every frame has structure, none is flat
    assert batch.expressions.dtype == np.int64 and set(batch.expressions) <= set(range(len(EXPRESSIONS)))
    assert batch.attributes.shape == (32, len(ATTRIBUTES)) and batch.attributes.dtype == np.uint8
    assert batch.intensity.dtype == np.float32 and np.all((batch.intensity >= 0) & (batch.intensity <= 1))


def test_the_same_seed_gives_identical_faces_and_another_seed_different_ones():
    first = sample_face_batch(64, np.random.default_rng(7))
    again = sample_face_batch(64, np.random.default_rng(7))
    other = sample_face_batch(64, np.random.default_rng(8))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.images, other.images)


def test_a_face_renders_the_same_alone_as_in_a_batch():
    # 300 faces span two render chunks; glasses, occlusion, closed eyes and yawns all occur.
    rng = np.random.default_rng(3)
    params = sample_face_params(300, rng).replace(noise_sd=0.0)
    params.occluded[::7] = True
    params.identity.glasses[::3] = True
    batch = render_faces(params, rng)
    for i in [0, 1, 2, 3, 7, 21, 99, 255, 256, 257, 299]:
        alone = render_faces(params.take(i), rng)
        np.testing.assert_array_equal(alone[0], batch[i], err_msg=f"face {i}")


def test_parts_are_never_clipped_by_their_drawing_windows(monkeypatch):
    # Parts are drawn in fixed-size windows around them; frame-sized windows must change nothing,
    # even for strong, exaggerated expressions, yawns, turned heads and glasses.
    import vclass.sim.faces as faces

    rng = np.random.default_rng(30)
    n = 600
    params = sample_face_params(
        n, rng, intensity=1.0, yawning=rng.random(n) < 0.3, looking_away=rng.random(n) < 0.5
    ).replace(noise_sd=0.0)
    params.identity.resting_actions[:] = rng.choice([-0.3, 0.3], params.identity.resting_actions.shape)
    params.identity.glasses[::2] = True
    for size in (64, 32):
        windowed = render_faces(params, rng, size=size)
        with monkeypatch.context() as patch:
            patch.setattr(faces, "_WINDOW_EXTENT", {part: (3.0, 3.0) for part in faces._WINDOW_EXTENT})
            faces._window_shape.cache_clear()  # the window sizes are cached per part and size
            assert faces._window_shape("mouth", size)[:2] == (size, size)
            whole = {engine: render_faces(params, rng, size=size, engine=engine) for engine in ("numpy", "compiled")}
        faces._window_shape.cache_clear()
        for engine, frames in whole.items():
            np.testing.assert_array_equal(windowed, frames, err_msg=engine)


def _hostile_params(n: int, seed: int) -> FaceParams:
    """Faces with every option the renderer has: strong and faint expressions, yawns, closed eyes, turned heads,
    every hair style, glasses, occluders, lighting and noise."""
    rng = np.random.default_rng(seed)
    params = sample_face_params(
        n,
        rng,
        intensity=np.where(rng.random(n) < 0.3, 1.0, rng.random(n)),
        yawning=rng.random(n) < 0.2,
        eyes_closed=rng.random(n) < 0.2,
        looking_away=rng.random(n) < 0.4,
    )
    params.identity.resting_actions[:] = rng.normal(0, 0.3, params.identity.resting_actions.shape)
    params.identity.glasses[:] = rng.random(n) < 0.5
    params.identity.hair_style[:] = rng.integers(0, 4, n)
    params.occluded[:] = rng.random(n) < 0.3
    return params


@pytest.mark.parametrize("size", [64, 48, 32, 17])
def test_the_compiled_renderer_gives_the_numpy_renderers_bytes(size):
    # The compiled loops (vclass.sim.facekernels) must do the numpy painters' float32 operations in the same order:
    # any changed rounding shows here as a differing pixel somewhere in 600 hostile faces (three render chunks).
    assert compiled_renderer_available()  # numba is a dependency
    params = _hostile_params(600, seed=size)
    numpy_frames = render_faces(params, np.random.default_rng(size), size=size, engine="numpy")
    compiled = render_faces(params, np.random.default_rng(size), size=size, engine="compiled")
    assert numpy_frames.std() > 10
    np.testing.assert_array_equal(compiled, numpy_frames)
    assert np.array_equal(render_faces(params, np.random.default_rng(size), size=size), compiled)  # auto: compiled

    def groups():
        return [
            (params.take(slice(0, 7)), np.random.default_rng(1)),
            (params.take(slice(7, 40)), np.random.default_rng(9)),
        ]

    np.testing.assert_array_equal(
        render_face_groups(groups(), size, engine="compiled"), render_face_groups(groups(), size, engine="numpy")
    )


def test_the_compiled_renderer_paints_before_light_and_noise_exactly_as_numpy_does(monkeypatch):
    # Frames are compared before the uint8 rounding too, so that a float32 difference cannot hide in a truncation.
    import vclass.sim.faces as faces

    seen: dict[str, np.ndarray] = {}
    numpy_light, compiled_light = faces._light_and_noise, faces._light_and_noise_compiled

    def numpy_spy(frames, *args):
        seen["numpy"] = frames.copy()
        numpy_light(frames, *args)

    def compiled_spy(kernels, frames, *args):
        seen["compiled"] = frames.copy()
        compiled_light(kernels, frames, *args)

    monkeypatch.setattr(faces, "_light_and_noise", numpy_spy)
    monkeypatch.setattr(faces, "_light_and_noise_compiled", compiled_spy)
    params = _hostile_params(200, seed=5)
    for engine in ("numpy", "compiled"):
        render_faces(params, np.random.default_rng(0), size=64, engine=engine)
    assert seen["numpy"].dtype == np.float32
    np.testing.assert_array_equal(seen["compiled"], seen["numpy"])


def test_an_unknown_render_engine_is_refused():
    params = sample_face_params(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="engine must be one of auto, compiled, numpy, got 'gpu'"):
        render_faces(params, np.random.default_rng(0), engine="gpu")


def test_sensor_noise_is_drawn_from_the_generator_and_scales_with_noise_sd():
    params = clean_params(20, seed=4)
    quiet = render(params)
    noisy_a = render_faces(params.replace(noise_sd=0.05), np.random.default_rng(1)).astype(float)
    noisy_b = render_faces(params.replace(noise_sd=0.05), np.random.default_rng(2)).astype(float)
    assert not np.array_equal(noisy_a, noisy_b)
    residual = (noisy_a - quiet)[:, 8:56, 8:56]  # away from clipping at the frame edge
    assert 0.03 * 255 < residual.std() < 0.07 * 255


def test_every_expression_at_intensity_zero_is_the_neutral_face():
    identity = sample_identities(5, np.random.default_rng(5))
    base = clean_params(5, seed=6, identity=identity, expression=0, intensity=0.0)
    neutral = render(base)
    for expression in range(len(EXPRESSIONS)):
        np.testing.assert_array_equal(render(base.replace(expression=expression)), neutral)


def test_expressions_move_away_from_neutral_as_intensity_grows():
    identity = sample_identities(40, np.random.default_rng(9))
    base = clean_params(40, seed=10, identity=identity, expression=0, intensity=0.0)
    neutral = render(base)
    for expression in range(1, len(EXPRESSIONS)):
        distances = [
            np.abs(render(base.replace(expression=expression, intensity=level)) - neutral).mean()
            for level in (0.0, 0.1, 0.4, 0.7, 1.0)
        ]
        assert distances[0] == 0
        assert np.all(np.diff(distances) > 0), (EXPRESSIONS[expression], distances)
        # A faint expression is much closer to neutral than a full one.
        assert distances[1] < 0.3 * distances[-1], (EXPRESSIONS[expression], distances)


def test_each_expression_is_its_own_combination_of_facial_actions():
    assert np.all(EXPRESSION_ACTIONS[EXPRESSIONS.index("neutral")] == 0)
    rows = EXPRESSION_ACTIONS[1:]
    distances = np.linalg.norm(rows[:, None] - rows[None], axis=-1)
    assert distances[~np.eye(len(rows), dtype=bool)].min() > 0.5


def _linear_readout_accuracy(intensity_range: tuple[float, float], seed: int) -> float:
    """Accuracy of a ridge classifier on 32x32 pixels of aligned faces (identity, tones and noise still vary)."""
    from sklearn.linear_model import RidgeClassifier

    def faces(n, seed):
        rng = np.random.default_rng(seed)
        expression = np.arange(n) % len(EXPRESSIONS)
        params = sample_face_params(
            n,
            rng,
            expression=expression,
            intensity=rng.uniform(*intensity_range, n),
            eyes_closed=False,
            yawning=False,
            looking_away=False,
        )
        # A linear read-out of pixels needs the faces aligned: fix position, size and lighting.
        params = params.replace(occluded=False, center_x=0.0, center_y=0.06, scale=1.0, light_strength=0.0)
        images = render_faces(params, rng).astype(np.float32) / 255
        return images.reshape(n, 32, 2, 32, 2).mean(axis=(2, 4)).reshape(n, -1), expression

    x_train, y_train = faces(1400, seed)
    x_test, y_test = faces(700, seed + 1)
    return float(RidgeClassifier(alpha=1.0).fit(x_train, y_train).score(x_test, y_test))


def test_strong_expressions_are_readable_and_faint_ones_ambiguous():
    chance = 1 / len(EXPRESSIONS)
    strong = _linear_readout_accuracy((0.85, 1.0), seed=11)
    faint = _linear_readout_accuracy((0.0, 0.1), seed=21)
    assert strong > 5 * chance, strong  # measured 0.94
    assert faint < 2 * chance, faint  # measured 0.19


def test_closing_the_eyes_changes_only_the_eye_band():
    params = clean_params(30, seed=12)
    shut = render(params.replace(eyes_closed=True))
    changed = np.abs(shut - render(params)) > 0
    assert changed.any(axis=(1, 2)).all()
    half_h = params.identity.face_height * params.scale
    brow_top = pixel_row(params.center_y - 0.75 * half_h)
    cheek = pixel_row(params.center_y + 0.1 * half_h)
    rows = np.arange(SIZE)[None, :]
    outside = (rows < np.floor(brow_top)[:, None]) | (rows > np.ceil(cheek)[:, None])
    assert not changed.any(axis=2)[outside].any()


def test_yawning_changes_mostly_the_mouth():
    params = clean_params(30, seed=13)
    difference = np.abs(render(params.replace(yawning=True)) - render(params))
    nose_row = pixel_row(params.center_y + 0.3 * params.identity.face_height * params.scale)
    below = np.arange(SIZE)[None, :, None] > nose_row[:, None, None]
    share_below = (difference * below).sum(axis=(1, 2)) / difference.sum(axis=(1, 2))
    assert share_below.min() > 0.7, share_below.min()


def test_turning_the_head_moves_the_features_the_same_way():
    params = clean_params(20, seed=14, looking_away=True)
    ident = params.identity
    ident.hair_style[:] = 0  # bald, no glasses, background = skin:
    ident.glasses[:] = False  # the only dark pixels are facial features
    ident.background_tone[:] = ident.skin_tone

    def feature_centre_x(yaw):
        image = render(params.replace(yaw=yaw))
        darkness = np.clip(ident.skin_tone[:, None, None] * 255 - image, 0, None)
        return (darkness * np.arange(SIZE)).sum(axis=(1, 2)) / darkness.sum(axis=(1, 2))

    left, ahead, right = feature_centre_x(-0.8), feature_centre_x(0.0), feature_centre_x(0.8)
    assert np.all(right - ahead > 1.5) and np.all(ahead - left > 1.5)
    assert np.all(params.looking_away) and not np.any(params.replace(yaw=0.1).looking_away)


def test_an_occluder_changes_pixels_inside_its_box_only():
    params = clean_params(10, seed=15)
    covered = params.replace(occluded=True)
    difference = np.abs(render(covered) - render(params)) > 0
    half_w = params.identity.face_width * params.scale  # the head is narrower only when turned away
    half_h = params.identity.face_height * params.scale
    box = params.occluder
    x0 = (params.center_x + (box[:, 0] - box[:, 2]) * half_w + 1) * SIZE / 2 - 1.5
    x1 = (params.center_x + (box[:, 0] + box[:, 2]) * half_w + 1) * SIZE / 2 + 1.5
    y0 = pixel_row(params.center_y + (box[:, 1] - box[:, 3]) * half_h) - 1.5
    y1 = pixel_row(params.center_y + (box[:, 1] + box[:, 3]) * half_h) + 1.5
    cols, rows = np.arange(SIZE)[None, None, :], np.arange(SIZE)[None, :, None]
    inside = (
        (cols >= x0[:, None, None])
        & (cols <= x1[:, None, None])
        & (rows >= y0[:, None, None])
        & (rows <= y1[:, None, None])
    )
    assert difference.any(axis=(1, 2)).all()
    assert not (difference & ~inside).any()


def test_sampled_batches_follow_the_documented_distributions():
    batch = sample_face_batch(3000, np.random.default_rng(16), size=32)
    assert 0.25 < np.mean(batch.intensity < 0.3) < 0.45
    assert 0.35 < batch.intensity.mean() < 0.5
    counts = np.bincount(batch.expressions, minlength=len(EXPRESSIONS))
    assert counts.min() > 0.8 * 3000 / len(EXPRESSIONS)
    rates = batch.attributes.mean(axis=0)
    np.testing.assert_allclose(rates, [0.12, 0.08, 0.2], atol=0.025)


def test_given_values_are_kept_and_wrong_lengths_rejected():
    rng = np.random.default_rng(17)
    identity = sample_identities(4, rng)
    params = sample_face_params(
        4,
        rng,
        identity=identity,
        expression=[1, 2, 3, 4],
        intensity=0.5,
        eyes_closed=[True, False, True, False],
        yawning=False,
        looking_away=[0, 1, 0, 1],
    )
    assert params.expression.tolist() == [1, 2, 3, 4]
    assert np.all(params.intensity == 0.5)
    assert params.attributes().tolist() == [[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]]
    assert params.take(np.array([3])).identity.face_width[0] == identity.face_width[3]
    with pytest.raises(ValueError, match="expected 4 values"):
        sample_face_params(4, rng, identity=identity, expression=[1, 2])
    with pytest.raises(ValueError, match="identity holds 4 faces"):
        sample_face_params(5, rng, identity=identity)
    with pytest.raises(ValueError, match="expression must be in"):
        sample_face_params(4, rng, expression=7)


def test_the_renderer_benchmark_reports_faces_per_second():
    from vclass.experiments.bench.faces import run

    rows = run(quick=True)
    by_case = {row["case"]: row for row in rows}
    assert rows[0]["case"] == "compiled, 64x64 batch 1024" and rows[0]["unit"] == "faces/s"
    assert {"compiled, 64x64 batch 30", "numpy, 64x64 batch 30", "numpy, 48x48 batch 1024"} <= set(by_case)
    assert all(row["value"] > 0 for row in rows)
    ratio = by_case["compiled, 64x64 batch 256"]["value"] / by_case["numpy, 64x64 batch 256"]["value"]
    assert f"{ratio:.1f}x the numpy engine in this run" in by_case["compiled, 64x64 batch 256"]["note"]
