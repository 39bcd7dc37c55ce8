"""Small U-Net / FCN: any input size, self-describing config."""

import pytest
import torch

from fcnstudio.train.models import DEFAULT_MODEL_CONFIG, build_model

torch.set_num_threads(1)

TINY = {"base_width": 4, "depth": 2}


@pytest.mark.parametrize("arch", ["unet", "fcn"])
@pytest.mark.parametrize("in_channels,size", [(1, (13, 21)), (3, (16, 16)), (3, (5, 3))])
def test_output_shape_matches_input_for_any_size(arch, in_channels, size):
    model = build_model({"arch": arch, "in_channels": in_channels, "num_classes": 3, **TINY}).eval()
    with torch.no_grad():
        y = model(torch.randn(2, in_channels, *size))
    assert y.shape == (2, 3, *size)
    assert torch.isfinite(y).all()


def test_default_unet_shape_and_size():
    model = build_model({"in_channels": 1, "num_classes": 2}).eval()
    assert model.model_config == {"arch": "unet", "in_channels": 1, "num_classes": 2,
                                  "base_width": 16, "depth": 4, "norm": "batch"}
    assert sum(p.numel() for p in model.parameters()) < 3_000_000  # CPU-sized
    with torch.no_grad():
        assert model(torch.randn(1, 1, 37, 53)).shape == (1, 2, 37, 53)


def test_output_is_cropped_from_the_top_left_of_the_padded_input():
    """Padding goes right/bottom, so pixel (y, x) of the output belongs to input pixel (y, x)."""
    torch.manual_seed(0)
    model = build_model({"in_channels": 1, "num_classes": 2, **TINY}).eval()
    x = torch.randn(1, 1, 10, 7)
    padded = torch.nn.functional.pad(x, (0, 1, 0, 2), mode="replicate")  # to 12 x 8 (multiple of 4)
    with torch.no_grad():
        assert torch.allclose(model(x), model(padded)[..., :10, :7])


@pytest.mark.parametrize("arch", ["unet", "fcn"])
def test_config_rebuilds_the_same_model(arch):
    torch.manual_seed(0)
    model = build_model({"arch": arch, "in_channels": 3, "num_classes": 4, "norm": "group", **TINY}).eval()
    again = build_model(model.model_config).eval()
    again.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(1, 3, 9, 11)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert set(model.model_config) == set(DEFAULT_MODEL_CONFIG)


def test_bad_configs_raise_value_error_that_says_what_to_do():
    with pytest.raises(ValueError, match="unet, fcn"):
        build_model({"arch": "deeplab", "in_channels": 1, "num_classes": 2})
    with pytest.raises(ValueError, match="unknown model config keys"):
        build_model({"in_channels": 1, "num_classes": 2, "width": 8})
    with pytest.raises(ValueError, match="in_channels"):
        build_model({"num_classes": 2})
    with pytest.raises(ValueError, match="num_classes"):
        build_model({"in_channels": 1, "num_classes": 1})
    with pytest.raises(ValueError, match="norm"):
        build_model({"in_channels": 1, "num_classes": 2, "norm": "layer"})
    model = build_model({"in_channels": 1, "num_classes": 2, **TINY})
    with pytest.raises(ValueError, match="N x C x H x W"):
        model(torch.randn(1, 8, 8))


def test_unet_fits_a_tiny_batch():
    """Gradients flow end to end: a few Adam steps learn a square."""
    torch.manual_seed(0)
    model = build_model({"in_channels": 1, "num_classes": 2, **TINY})
    x = torch.zeros(2, 1, 12, 12)
    t = torch.zeros(2, 12, 12, dtype=torch.long)
    x[:, :, 3:8, 4:9] = 1.0
    t[:, 3:8, 4:9] = 1
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert (pred == t).float().mean().item() > 0.95


def test_crafted_configs_are_refused_before_allocating():
    import pytest

    from fcnstudio.train.models import build_model

    for key, value in (("depth", 40), ("base_width", 4096), ("in_channels", 10_000)):
        with pytest.raises(ValueError, match=key):
            build_model({"in_channels": 1, "num_classes": 2, key: value})
