"""One training step: a non-finite loss changes no weight and is seen when the losses are read.

On CUDA the step keeps its checks on the device (``check_on_host=False``); that path runs on the CPU
here, so it is tested without a GPU.
"""

import math

import pytest
import torch

from fcnstudio.train.step import LossLog, TrainStep

torch.set_num_threads(1)


def _net():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 1, 8, 8, generator=g), (torch.rand(2, 8, 8, generator=g) > 0.5).long()


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("on_host", [True, False])
def test_a_finite_step_learns_and_logs_its_loss(on_host):
    model, opt = _net()
    step = TrainStep(model, opt, grad_clip=10.0, check_on_host=on_host)
    x, y = _batch()
    before = _weights(model)
    loss, finite = step(torch.nn.functional.cross_entropy, x, y)
    assert finite is (True if on_host else None)
    assert not loss.requires_grad and math.isfinite(float(loss))
    assert any(not torch.equal(a, b) for a, b in zip(before, _weights(model)))


@pytest.mark.parametrize("on_host", [True, False])
def test_a_nan_loss_leaves_the_weights_finite_and_reads_as_nan(on_host):
    model, opt = _net()
    step = TrainStep(model, opt, grad_clip=10.0, check_on_host=on_host)
    x, y = _batch()
    step(torch.nn.functional.cross_entropy, x, y)  # a real step first: AdamW has momentum
    log = LossLog()
    for s in range(1, 4):
        loss, finite = step(lambda logits, t: torch.nn.functional.cross_entropy(logits, t) * math.nan, x, y)
        log.add(s, loss, finite)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert log.nan_run == (3 if on_host else 0)  # on the device: not known before the read
    read = log.read()
    assert [s for s, _ in read] == [1, 2, 3] and all(math.isnan(v) for _, v in read)
    assert log.nan_run == 3 and log.pending == []


def test_a_nan_loss_checked_on_the_host_skips_the_step():
    model, opt = _net()
    step = TrainStep(model, opt, grad_clip=None, check_on_host=True)
    x, y = _batch()
    step(torch.nn.functional.cross_entropy, x, y)
    before = _weights(model)
    step(lambda logits, t: torch.nn.functional.cross_entropy(logits, t) * math.inf, x, y)
    assert all(torch.equal(a, b) for a, b in zip(before, _weights(model)))


def test_a_finite_loss_after_nans_ends_the_run_of_nans_at_the_read():
    log = LossLog()
    for s, v in enumerate([math.nan, math.nan, 0.5, math.nan], start=1):
        log.add(s, torch.tensor(v), None)
    assert [v for _, v in log.read()][2] == 0.5
    assert log.nan_run == 1
