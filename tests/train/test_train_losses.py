"""Losses against hand computations on tiny tensors."""

import math

import numpy as np
import pytest
import torch

from fcnstudio.train.losses import (
    LOSS_NAMES, cross_entropy, dice_loss, focal_loss, make_loss, median_frequency_weights,
)

torch.set_num_threads(1)

LN3 = math.log(3)


def _v(x):
    """A loss value as a Python float."""
    return x.detach().item() if isinstance(x, torch.Tensor) else float(x)


def _binary_case(target):
    """1 image, 2x2 pixels, 2 classes: p(class 1) = 0.75, 0.5, 0.25, 0.75."""
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1] = torch.tensor([[LN3, 0.0], [-LN3, LN3]])
    return logits.requires_grad_(), torch.tensor([target])


def _from_probs(probs):
    """Logits whose softmax is ``probs`` (N x C x H x W)."""
    return torch.log(torch.tensor(probs, dtype=torch.float64)).float()


P1 = [0.75, 0.5, 0.25, 0.75]
TARGET = [[1, 0], [0, 0]]
PT = [0.75, 0.5, 0.75, 0.25]  # probability of the true class per pixel


def test_uniform_prediction_values():
    logits = torch.zeros(1, 2, 2, 2)
    t = torch.tensor([TARGET])
    assert _v(make_loss("ce", 2)(logits, t)) == pytest.approx(math.log(2))
    assert _v(make_loss("focal", 2)(logits, t)) == pytest.approx(0.25 * math.log(2))
    # dice, class 1: inter 0.5, sum_p 2, sum_t 1 -> (1 + 1) / (3 + 1)
    assert _v(make_loss("dice", 2)(logits, t)) == pytest.approx(0.5)
    assert _v(make_loss("dice+ce", 2)(logits, t)) == pytest.approx(0.5 + math.log(2))


def test_ce_and_weighted_ce_by_hand():
    logits, t = _binary_case(TARGET)
    nll = [-math.log(p) for p in PT]
    assert _v(make_loss("ce", 2)(logits, t)) == pytest.approx(sum(nll) / 4, rel=1e-6)
    w = [1.0, 3.0]
    expected = (3 * nll[0] + nll[1] + nll[2] + nll[3]) / (3 + 1 + 1 + 1)
    assert _v(make_loss("weighted-ce", 2, class_weights=w)(logits, t)) == pytest.approx(expected, rel=1e-6)


def test_focal_by_hand_and_gamma_zero_is_ce():
    logits, t = _binary_case(TARGET)
    expected = sum((1 - p) ** 2 * -math.log(p) for p in PT) / 4
    assert _v(make_loss("focal", 2)(logits, t)) == pytest.approx(expected, rel=1e-6)
    assert _v(focal_loss(logits, t, gamma=0.0)) == pytest.approx(_v(cross_entropy(logits, t)), rel=1e-6)


def test_dice_and_dice_ce_by_hand():
    logits, t = _binary_case(TARGET)
    # class 1 only: inter = 0.75, sum_p = 2.25, sum_t = 1, eps = 1
    dice = 1 - (2 * 0.75 + 1) / (2.25 + 1 + 1)
    assert _v(make_loss("dice", 2)(logits, t)) == pytest.approx(dice, rel=1e-6)
    ce = sum(-math.log(p) for p in PT) / 4
    assert _v(make_loss("dice+ce", 2)(logits, t)) == pytest.approx(dice + ce, rel=1e-6)


def test_ignore_index_excludes_pixels_from_every_loss():
    target = [[1, 0], [255, 0]]  # pixel 2 ignored: remaining p_t 0.75, 0.5, 0.25
    logits, t = _binary_case(target)
    nll = [-math.log(0.75), -math.log(0.5), -math.log(0.25)]
    expected = {
        "ce": sum(nll) / 3,
        "focal": ((0.25 ** 2) * nll[0] + (0.5 ** 2) * nll[1] + (0.75 ** 2) * nll[2]) / 3,
        # class 1 over kept pixels: inter .75, sum_p .75+.5+.75 = 2, sum_t 1
        "dice": 1 - (1.5 + 1) / (3 + 1),
    }
    expected["dice+ce"] = expected["dice"] + expected["ce"]
    for name, value in expected.items():
        loss = make_loss(name, 2, ignore_index=255)
        got = loss(logits, t)
        assert _v(got) == pytest.approx(value, rel=1e-6), name
        logits.grad = None
        got.backward()
        assert torch.all(logits.grad[0, :, 1, 0] == 0), f"{name}: ignored pixel got a gradient"
        # anything at the ignored pixel leaves the value unchanged
        other = logits.detach().clone()
        other[0, :, 1, 0] = torch.tensor([-7.0, 9.0])
        assert _v(loss(other, t)) == pytest.approx(value, rel=1e-6), name


def test_all_pixels_ignored_gives_zero_not_nan():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    t = torch.full((1, 2, 2), 255)
    for name in LOSS_NAMES:
        kw = {"class_weights": [1.0, 2.0, 3.0]} if name == "weighted-ce" else {}
        v = make_loss(name, 3, ignore_index=255, **kw)(logits, t)
        # (dice: every class is "absent" and nothing is predicted on labelled pixels → 0)
        assert _v(v) == 0.0, name
        v.backward()
        assert torch.all(logits.grad == 0), name


def test_dice_absent_class_is_penalised_only_when_predicted():
    t = torch.tensor([[[1, 0], [0, 0]]])  # class 2 absent from the batch
    spread = _from_probs([[[[0.5, 0.5], [0.5, 0.5]], [[0.25, 0.25], [0.25, 0.25]], [[0.25, 0.25], [0.25, 0.25]]]])
    # class 1: inter .25, sum_p 1, sum_t 1 -> 1.5/3 ; class 2: inter 0, sum_p 1, sum_t 0 -> 1/2
    assert _v(dice_loss(spread, t)) == pytest.approx(1 - (0.5 + 0.5) / 2, rel=1e-6)
    none_of_2 = _from_probs([[[[0.5] * 2] * 2, [[0.5] * 2] * 2, [[1e-12] * 2] * 2]])
    # class 1: inter .5, sum_p 2, sum_t 1 -> 2/4 ; class 2: -> 1/1
    assert _v(dice_loss(none_of_2, t)) == pytest.approx(1 - (0.5 + 1.0) / 2, rel=1e-6)


def test_dice_is_batch_dice():
    """Sums run over the whole batch: the same as one image made of both side by side."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 3, 4)
    t = torch.tensor([[[0, 0, 0, 0]] * 3, [[0, 1, 1, 2]] * 3])  # image 0 has no foreground
    side_by_side = dice_loss(torch.cat([logits[0], logits[1]], dim=2)[None], torch.cat([t[0], t[1]], dim=1)[None])
    assert _v(dice_loss(logits, t)) == pytest.approx(_v(side_by_side), rel=1e-6)
    per_image_mean = (_v(dice_loss(logits[:1], t[:1])) + _v(dice_loss(logits[1:], t[1:]))) / 2
    assert _v(dice_loss(logits, t)) != pytest.approx(per_image_mean, rel=1e-3)


def test_target_values_are_checked_before_one_hot():
    logits = torch.zeros(1, 2, 2, 2)
    t = torch.tensor([[[0, 255], [1, 0]]])
    for name in ("ce", "dice", "focal", "dice+ce"):
        with pytest.raises(ValueError, match="label checker"):
            make_loss(name, 2)(logits, t)  # 255 without ignore_index
        make_loss(name, 2, ignore_index=255)(logits, t)  # fine with it
    with pytest.raises(ValueError, match="integer"):
        make_loss("ce", 2)(logits, t.float())
    with pytest.raises(ValueError, match="3 classes"):
        make_loss("ce", 3)(logits, torch.zeros(1, 2, 2, dtype=torch.long))


def test_make_loss_names_and_errors():
    with pytest.raises(ValueError) as e:
        make_loss("bce", 2)
    for name in LOSS_NAMES:
        assert name in str(e.value)
    with pytest.raises(ValueError, match="median_frequency_weights"):
        make_loss("weighted-ce", 2)
    with pytest.raises(ValueError, match="no class_weights"):
        make_loss("dice", 2, class_weights=[1, 1])
    with pytest.raises(ValueError, match="resolve"):
        make_loss("ce", 2, class_weights="auto")
    with pytest.raises(ValueError, match="2 values"):
        make_loss("ce", 2, class_weights=[1, 2, 3])


def test_median_frequency_weights():
    # freq .9 .09 .01, median .09
    assert median_frequency_weights([900, 90, 10]) == pytest.approx([0.1, 1.0, 9.0])
    # absent class gets the largest present weight; median over present (.9, .1) = .5
    assert median_frequency_weights([90, 10, 0]) == pytest.approx([0.5 / 0.9, 5.0, 5.0])
    assert median_frequency_weights(np.array([0.5, 0.5])).dtype == np.float32
    with pytest.raises(ValueError):
        median_frequency_weights([0, 0])


def test_losses_train_a_tiny_problem():
    """Gradients point the right way: a few steps on one fixed batch lower every loss."""
    torch.manual_seed(0)
    t = torch.zeros(2, 4, 4, dtype=torch.long)
    t[:, 1:3, 1:3] = 1
    for name in LOSS_NAMES:
        kw = {"class_weights": [0.5, 2.0]} if name == "weighted-ce" else {}
        loss = make_loss(name, 2, **kw)
        logits = torch.zeros(2, 2, 4, 4, requires_grad=True)
        opt = torch.optim.SGD([logits], lr=5.0)
        first = _v(loss(logits, t))
        for _ in range(50):
            opt.zero_grad()
            v = loss(logits, t)
            v.backward()
            opt.step()
        assert _v(loss(logits, t)) < 0.5 * first, name
