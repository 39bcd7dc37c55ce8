"""Checkpoints: plain data only, atomic writes, weights_only loading that refuses code."""

import os

import pytest
import torch

from fcnstudio.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from fcnstudio.train.models import build_model

torch.set_num_threads(1)


def _ckpt():
    model = build_model({"arch": "unet", "in_channels": 1, "num_classes": 2, "base_width": 4, "depth": 2})
    return model, {"model_config": model.model_config, "model": model.state_dict(), "step": 7,
                   "class_names": ["background", "cell"], "colors": [[0, 0, 0], [255, 0, 0]],
                   "label_map": {"255": 1}, "ignore_index": None, "metrics": {"iou": [0.9, float("nan")]}}


def test_round_trip(tmp_path):
    model, ck = _ckpt()
    path = save_checkpoint(tmp_path / "last.pt", ck)
    back = load_checkpoint(path)
    assert back["format"] == "fcnstudio-checkpoint" and back["format_version"] == 1
    assert back["step"] == 7 and back["class_names"] == ["background", "cell"]
    again = build_model(back["model_config"])
    again.load_state_dict(back["model"])
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]   # atomic: no temp left


def test_save_refuses_objects_that_would_need_pickle(tmp_path):
    _, ck = _ckpt()
    ck["config"] = object()
    with pytest.raises(CheckpointError, match="only tensors, numbers, strings"):
        save_checkpoint(tmp_path / "x.pt", ck)
    assert not (tmp_path / "x.pt").exists()


class _Evil:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("zip_format", [True, False])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, zip_format):
    target = tmp_path / "pwned.txt"
    _, ck = _ckpt()
    ck["format"] = "fcnstudio-checkpoint"
    ck["format_version"] = 1
    ck["payload"] = _Evil(str(target))
    path = tmp_path / "evil.pt"
    # written by an attacker, not by save_checkpoint (also in torch's legacy non-zip format)
    torch.save(ck, path, _use_new_zipfile_serialization=zip_format)
    assert not target.exists()
    with pytest.raises(CheckpointError, match="refused") as e:
        load_checkpoint(path)
    assert "could run code" in str(e.value)
    assert not target.exists()


def test_truncated_and_garbage_files_give_clear_messages(tmp_path):
    _, ck = _ckpt()
    good = save_checkpoint(tmp_path / "good.pt", ck).read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(os.urandom(2000))
    with pytest.raises(CheckpointError, match="cut.pt|junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_foreign_checkpoints_are_named_as_such(tmp_path):
    model, _ = _ckpt()
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not an FCN Studio checkpoint.*state_dict"):
        load_checkpoint(tmp_path / "bare.pt")
    torch.save({"format": "fcnstudio-checkpoint", "format_version": 99}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "new.pt")


def test_checkpoints_that_would_build_a_wrong_or_huge_network_are_refused(tmp_path):
    from fcnstudio.train.checkpoint import check_model

    _, ck = _ckpt()
    base = load_checkpoint(save_checkpoint(tmp_path / "ok.pt", ck))
    assert check_model(base, "ok.pt") is base
    for change, words in (({"model_config": {**ck["model_config"], "base_width": 10**9}}, "base_width"),
                          ({"model_config": {**ck["model_config"], "arch": "transformer"}}, "unknown network"),
                          ({"class_names": ["a", "b", "c"]}, "2 outputs for 3"),
                          ({"channels": "rgb"}, "channels"),
                          ({"colors": [["x"], 5]}, "colors")):
        with pytest.raises(CheckpointError, match=words) as e:
            check_model({**base, **change}, "bad.pt")
        assert str(e.value).startswith("bad.pt:") and "\n" not in str(e.value)
