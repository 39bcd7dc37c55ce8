"""A split given by the caller (the review's folds): exactly those pairs train and validate, the rest is unused."""

import json

import pytest
import torch

from fcnstudio.train.errors import DataError
from fcnstudio.train.events import DoneEvent
from fcnstudio.train.trainer import Trainer

from test_trainer import tiny, toy_dataset

torch.set_num_threads(1)


def test_a_given_split_trains_on_its_pairs_only_and_is_recorded(tmp_path):
    data = toy_dataset(tmp_path / "ds", n=6)
    t = Trainer(data, tiny(max_steps=4), split=(["p0", "p1", "p2"], ["p4"]))
    done = t.run()
    assert isinstance(done, DoneEvent), getattr(done, "detail", done)
    assert [t.store.stem(i) for i in t.train_idx] == ["p0", "p1", "p2"]
    assert [t.store.stem(i) for i in t.val_idx] == ["p4"]
    assert set(t.sampler.indices) == set(t.train_idx)  # p3 and p5 are in neither list: never sampled
    cfg = json.loads((t.run_dir / "config.json").read_text())
    assert cfg["train_stems"] == ["p0", "p1", "p2"] and cfg["val_stems"] == ["p4"]


@pytest.mark.parametrize("split", [(["p0", "nope"], ["p1"]), ([], ["p1"]), (["p0"], [])])
def test_a_split_naming_unknown_pairs_or_empty_is_refused(tmp_path, split):
    data = toy_dataset(tmp_path / "ds", n=3)
    with pytest.raises(DataError):
        Trainer(data, tiny(), split=split).prepare(make_run_dir=False)
