"""The window on an nnU-Net raw dataset: the class list is the one dataset.json declares."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for nnunet_data.py

from nnunet_data import make_nnunet


def test_window_shows_the_classes_of_dataset_json(make_window, tmp_path):
    root = make_nnunet(tmp_path / "Dataset002_Liver", labels={"background": 0, "liver": 1, "tumour": 2, "ignore": 3})
    window = make_window(root)
    tree = window.classes.tree
    assert [tree.topLevelItem(i).text(1) for i in range(tree.topLevelItemCount())] == ["background", "liver", "tumour"]
    assert window.session.project.ignore_index == 3
    assert window.session.project_error is None
