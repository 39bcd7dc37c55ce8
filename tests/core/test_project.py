"""The project file round-trips, hostile content is refused, and settings are inferred from masks."""

import json

import numpy as np
import pytest
from PIL import Image

from fcnstudio.core import io
from fcnstudio.core.dataset import open_dataset
from fcnstudio.core.labels import load_project
from fcnstudio.core.project import (
    PROJECT_FILE,
    ClassInfo,
    LabelError,
    Project,
    ProjectError,
    save_project,
)


def _dataset(tmp_path, masks):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i, m in enumerate(masks):
        Image.fromarray(np.zeros(m.shape[:2], np.uint8)).save(tmp_path / "images" / f"{i}.png")
        Image.fromarray(m).save(tmp_path / "masks" / f"{i}.png")
    return open_dataset(tmp_path)


def test_roundtrip_through_the_file(tmp_path):
    p = Project(
        classes=(ClassInfo("background", (0, 0, 0)), ClassInfo("cell", (255, 0, 0))),
        label_map={255: 1, (0, 255, 0): 1},
        ignore_index=None,
        training={"loss": "dice+ce"},
    )
    save_project(tmp_path, p)
    data = json.loads((tmp_path / PROJECT_FILE).read_text())
    assert data["label_map"] == {"255": 1, "#00ff00": 1}
    ds_classes = Project.from_json(data)
    assert ds_classes == p
    assert ds_classes.label_map == p.label_map


@pytest.mark.parametrize(
    "data, words",
    [
        ([], "JSON object"),
        ({"classes": "x"}, "non-empty list"),
        ({"classes": [{"name": 3}]}, "string 'name'"),
        ({"classes": ["a", "b"], "label_map": {"255": 7}}, "not a class index"),
        ({"classes": ["a", "b"], "label_map": {"../../etc": 1}}, "stored value"),
        ({"classes": ["a", "b"], "ignore_index": 1e300}, "ignore_index"),
        ({"classes": [{"name": "a", "color": [999, 0, 0]}]}, "color"),
        ({"classes": ["a"] * 5000}, "more than"),
    ],
)
def test_hostile_project_files_are_refused_with_a_message(tmp_path, data, words):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / PROJECT_FILE).write_text(json.dumps(data))
    with pytest.raises(ProjectError, match=words):
        load_project(open_dataset(tmp_path))


def test_invalid_json_is_a_project_error(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / PROJECT_FILE).write_text('{"classes": [NaN')
    with pytest.raises(ProjectError, match="not valid JSON"):
        load_project(open_dataset(tmp_path))


def test_inferred_binary_255_has_two_classes_and_no_ignore(tmp_path):
    m = np.zeros((8, 8), np.uint8)
    m[2:6, 2:6] = 255
    proj = load_project(_dataset(tmp_path, [m]))
    assert proj.inferred and proj.num_classes == 2 and proj.ignore_index is None
    with pytest.raises(LabelError, match="255"):
        proj.encode(m)
    assert not (tmp_path / PROJECT_FILE).exists()  # nothing written until the user saves


def test_inferred_index_masks_with_void(tmp_path):
    m = np.zeros((8, 8), np.uint8)
    m[1:3, 1:3] = 1
    m[4:6, 4:6] = 3
    m[0, :] = 255
    proj = load_project(_dataset(tmp_path, [m]))
    assert proj.num_classes == 4 and proj.ignore_index == 255
    np.testing.assert_array_equal(proj.encode(m), m)


def test_encode_applies_value_and_colour_maps(tmp_path):
    p = Project(classes=(ClassInfo("bg", (0, 0, 0)), ClassInfo("fg", (255, 0, 0))), label_map={255: 1}, ignore_index=None)
    m = np.array([[0, 255], [255, 0]], np.uint8)
    np.testing.assert_array_equal(p.encode(m), [[0, 1], [1, 0]])
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1] = (255, 0, 0)
    pc = p.with_changes(label_map={(0, 0, 0): 0, (255, 0, 0): 1})
    np.testing.assert_array_equal(pc.encode(rgb), [[0, 1]])
    with pytest.raises(LabelError, match="#00ff00"):
        rgb[0, 0] = (0, 255, 0)
        pc.encode(rgb)


def test_encoded_masks_hold_every_class_and_the_ignore_value():
    def project(n, ignore):
        return Project(classes=tuple(ClassInfo(f"c{i}", (i % 256, 0, 0)) for i in range(n)), ignore_index=ignore)

    small = project(3, 255).encode(np.array([[0, 2], [255, 1]], np.uint16))
    assert small.dtype == np.uint8 and small.tolist() == [[0, 2], [255, 1]]
    many = project(300, None).encode(np.array([[299, 0]], np.uint16))
    assert many.dtype == np.uint16 and many.tolist() == [[299, 0]]
    far_ignore = project(3, 1000).encode(np.array([[1000, 2]], np.uint16))
    assert far_ignore.dtype == np.uint16 and far_ignore.tolist() == [[1000, 2]]


def test_voc_palette_masks_get_voc_class_names(tmp_path):
    m = np.zeros((8, 8), np.uint8)
    m[2:4, 2:4] = 15
    m[5, :] = 255
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / "a.png")
    img = Image.fromarray(m, mode="P")
    img.putpalette([v for c in io.default_colors(256) for v in c])
    img.save(tmp_path / "masks" / "a.png")
    proj = load_project(open_dataset(tmp_path))
    assert proj.num_classes == 21
    assert proj.class_names[15] == "person"
    assert proj.ignore_index == 255
