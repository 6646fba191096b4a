"""The recognizer networks: registry, output shapes, the S3 eq 1 importance weighting."""

from __future__ import annotations

import pytest
import torch

from vclass.models.nets import (
    ATTRIBUTES,
    EXPRESSIONS,
    InferenceWrapper,
    ResNetBackbone,
    count_parameters,
    create_model,
    list_models,
    model_from_build_args,
)

TINY = {"widths": (4, 8, 8, 16)}


def test_registry_lists_the_three_models_and_rejects_unknown_names():
    assert list_models() == ["baseline", "scn", "scn-cs"]
    with pytest.raises(ValueError, match="unknown model 'resnet50'.*baseline, scn, scn-cs"):
        create_model("resnet50")


@pytest.mark.parametrize("name, has_alpha", [("baseline", False), ("scn", True), ("scn-cs", True)])
@pytest.mark.parametrize("attributes", [True, False])
def test_forward_returns_logits_attribute_logits_and_alpha_with_the_documented_shapes(name, has_alpha, attributes):
    model = create_model(name, attributes=attributes, **TINY)
    out = model(torch.rand(5, 1, 64, 64))
    assert out.expression_logits.shape == (5, len(EXPRESSIONS)) == (5, 7)
    assert (
        (out.attribute_logits.shape == (5, len(ATTRIBUTES)) == (5, 3)) if attributes else out.attribute_logits is None
    )
    if has_alpha:
        assert out.alpha.shape == (5,) and bool(((out.alpha > 0) & (out.alpha < 1)).all())
    else:
        assert out.alpha is None


def test_forward_is_forward_head_of_forward_features():
    model = create_model("scn-cs", **TINY).eval()
    x = torch.rand(3, 1, 64, 64)
    features = model.forward_features(x)
    assert features.shape == (3, 16)
    torch.testing.assert_close(model.forward_head(features).expression_logits, model(x).expression_logits)


def test_scn_logits_are_alpha_times_the_linear_head_eq1():
    model = create_model("scn", **TINY).eval()
    features = model.forward_features(torch.rand(4, 1, 64, 64))
    out = model.forward_head(features)
    alpha = torch.sigmoid(features @ model.importance.weight.T + model.importance.bias).squeeze(1)
    torch.testing.assert_close(out.alpha, alpha)
    torch.testing.assert_close(out.expression_logits, alpha[:, None] * model.classifier(features))


def test_stem_stride_two_halves_the_working_resolution():
    full = ResNetBackbone((4, 4, 4, 4), stem_stride=1)
    half = ResNetBackbone((4, 4, 4, 4), stem_stride=2)
    x = torch.rand(1, 1, 64, 64)
    assert full.stages(full.stem(x)).shape[-1] == 8 and half.stages(half.stem(x)).shape[-1] == 4
    with pytest.raises(ValueError, match="stem_stride must be 1 or 2"):
        ResNetBackbone(stem_stride=3)


def test_widths_set_the_size_and_build_args_rebuild_the_same_architecture():
    small = create_model("scn-cs", widths=(16, 32, 64, 128))
    large = create_model("scn-cs", widths=(32, 64, 128, 256))
    assert 0.6e6 < count_parameters(small) < 0.8e6 and 2.6e6 < count_parameters(large) < 3.0e6
    rebuilt = model_from_build_args(small.build_args)
    assert small.build_args == {"name": "scn-cs", "widths": [16, 32, 64, 128]}
    rebuilt.load_state_dict(small.state_dict())  # same parameter names and shapes


def test_inference_wrapper_gives_probabilities_and_nan_attributes_without_a_head():
    with_head = InferenceWrapper(create_model("scn-cs", **TINY)).eval()
    expression, attributes = with_head(torch.rand(6, 1, 64, 64))
    torch.testing.assert_close(expression.sum(dim=1), torch.ones(6))
    assert bool(((attributes >= 0) & (attributes <= 1)).all())
    _, missing = InferenceWrapper(create_model("baseline", attributes=False, **TINY)).eval()(torch.rand(2, 1, 64, 64))
    assert missing.shape == (2, 3) and bool(torch.isnan(missing).all())
