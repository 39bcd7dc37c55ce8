"""The training settings module loads without torch, so the CLI and the window can read its defaults."""

import subprocess
import sys

import pytest

from fcnstudio.train.config import LOSS_NAMES, TrainConfig


def test_importing_the_training_config_does_not_import_torch():
    code = ("import sys, fcnstudio.train.config, fcnstudio.cli; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_offers_every_loss_and_names_the_defaults(capsys):
    from fcnstudio.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "{" + ",".join(LOSS_NAMES) + "}" in text
    assert f"loss (default {TrainConfig().loss})" in text and f"crop size (default {TrainConfig().crop_size})" in text
