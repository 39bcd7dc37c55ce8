"""The checker: every finding code, built from scratch, reported for the right file — and no false alarms."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for defects.py

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from defects import (
    binary_masks,
    blobs,
    image_like,
    index_masks,
    make_dataset,
    resized,
    save,
    to_luminance,
    to_rgb,
    voc_style,
)
from fcnstudio.core.checker.findings import CODES
from fcnstudio.core.checker.run import CheckCancelled, check_dataset
from fcnstudio.core.checker.pair_stats import analyse_mask


def check(root, **kw):
    return check_dataset(root, workers=kw.pop("workers", 1), **kw)


def codes_for(result, path):
    return {f.code for f in result.findings if path in f.files}


def errors(result):
    return [f for f in result.findings if f.severity == "error"]


def write_project(root, classes, **extra):
    data = {"version": 1, "classes": [{"name": n} for n in classes], **extra}
    (root / "fcnstudio.json").write_text(json.dumps(data))


# ---------------------------------------------------------------- clean datasets


def test_clean_index_dataset_has_no_findings(tmp_path):
    root = make_dataset(tmp_path / "ds", index_masks(n=6, classes=3, h=96, w=120))
    result = check(root)
    assert result.findings == ()
    assert result.project.num_classes == 3
    assert result.pairs == 6 and result.layout == "plain"


def test_clean_binary_01_dataset_has_no_findings(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=5, top=1))
    assert check(root).findings == ()


def test_clean_voc_style_dataset_has_no_error(tmp_path):
    masks = {k: voc_style(v) for k, v in index_masks(n=4, classes=4, h=96, w=120).items()}
    masks["only_void"] = voc_style(blobs(96, 120, values=(1,), seed=9)).clip(0, 255)
    masks["only_void"][masks["only_void"] == 1] = 0  # background + void: nothing labelled, not binary-255
    root = make_dataset(tmp_path / "ds", masks, how="palette")
    result = check(root)
    assert errors(result) == []
    assert "ignore-border-255" in result.codes()
    assert "binary-255" not in result.codes()
    assert result.project.ignore_index == 255


def test_small_compact_class_is_not_an_artefact(tmp_path):
    m = blobs(200, 200, values=(1, 2), seed=1)
    m[10:12, 10:12] = 3  # a class of 4 pixels (0.01 %)
    m[100:102, 180:182] = 4
    m[150:152, 20:22] = 5
    root = make_dataset(tmp_path / "ds", {"a": m, "b": blobs(200, 200, values=(1, 2, 3, 4, 5), seed=2)})
    result = check(root)
    assert not {"lossy-mask", "interpolation-artifacts"} & result.codes()


def test_fragments_of_classes_seen_elsewhere_are_not_damage(tmp_path):
    masks = index_masks(n=4, classes=7, h=96, w=120)
    frag = blobs(96, 120, values=(1, 2), seed=11)
    rng = np.random.default_rng(0)
    for v in (3, 4, 5, 6):  # each class only as 12 scattered single pixels here
        ys, xs = rng.integers(0, 96, 12), rng.integers(0, 120, 12)
        frag[ys, xs] = v
    masks["fragments"] = frag
    result = check(make_dataset(tmp_path / "ds", masks))
    assert not {"lossy-mask", "interpolation-artifacts"} & result.codes()


def test_many_small_classes_nearest_resized_are_clean(tmp_path):
    m = blobs(240, 320, values=tuple(range(1, 30)), seed=3)
    for i, x in enumerate(range(10, 300, 12)):
        cv2.line(m, (x, 0), (x + 5, 239), 30 + i % 5, 1)  # thin 1-px "poles"
    m = cv2.resize(m, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_NEAREST)
    root = make_dataset(tmp_path / "ds", {"a": m})
    assert not {"lossy-mask", "interpolation-artifacts", "label-out-of-range"} & check(root).codes()


# ---------------------------------------------------------------- pairs and files


def test_missing_mask_and_missing_image(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=3), images={"case01": None})
    (root / "masks" / "case02.png").unlink()
    result = check(root)
    assert "missing-mask" in codes_for(result, "images/case02.png")
    assert "missing-image" in codes_for(result, "masks/case01.png")


def test_unreadable_files(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=3))
    data = (root / "masks" / "case01.png").read_bytes()
    (root / "masks" / "case01.png").write_bytes(data[: len(data) // 2])
    (root / "images" / "case02.png").write_bytes(b"this is not an image")
    result = check(root)
    assert "unreadable" in codes_for(result, "masks/case01.png")
    assert "unreadable" in codes_for(result, "images/case02.png")
    assert CODES["unreadable"] == "error"


def test_shape_mismatch_and_rotated(tmp_path):
    masks = binary_masks(n=3, h=60, w=90)
    images = {"case01": image_like(np.zeros((60, 80))), "case02": image_like(np.zeros((90, 60)))}
    root = make_dataset(tmp_path / "ds", masks, images=images)
    result = check(root)
    plain = [f for f in result.by_code("shape-mismatch") if "case01" in f.path][0]
    rotated = [f for f in result.by_code("shape-mismatch") if "case02" in f.path][0]
    assert set(plain.files) == {"images/case01.png", "masks/case01.png"}
    assert "rotated" not in plain.message and "rotated" in rotated.message


def test_exif_rotation(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2), image_ext=".jpg")
    path = root / "images" / "case00.jpg"
    img = Image.open(path)
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(path, exif=exif)
    result = check(root)
    assert codes_for(result, "images/case00.jpg") == {"exif-rotation"}
    assert "exif-rotation" not in codes_for(result, "images/case01.jpg")


def test_jpeg_orientation_big_endian_exif(tmp_path):
    import struct

    from fcnstudio.core.checker.pair_stats import jpeg_orientation

    ok, enc = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 8, 0) + b"\0" * 4
    app1 = b"Exif\x00\x00" + tiff
    data = b"\xff\xd8" + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + enc.tobytes()[2:]
    (tmp_path / "x.jpg").write_bytes(data)
    assert jpeg_orientation(str(tmp_path / "x.jpg")) == 8
    (tmp_path / "y.jpg").write_bytes(enc.tobytes())
    assert jpeg_orientation(str(tmp_path / "y.jpg")) == 1


def test_constant_and_nan_images(tmp_path):
    masks = binary_masks(n=3)
    nan = image_like(masks["case01"], channels=1).astype(np.float32)
    nan[3, 3] = np.nan
    images = {"case00": np.zeros((64, 80, 3), np.uint8)}
    root = make_dataset(tmp_path / "ds", masks, images=images)
    (root / "images" / "case01.png").unlink()
    Image.fromarray(nan, mode="F").save(root / "images" / "case01.tif")
    result = check(root)
    assert "constant-image" in codes_for(result, "images/case00.png")
    assert "nan-image" in codes_for(result, "images/case01.tif")


def test_image_channels_and_depth_mixed(tmp_path):
    masks = binary_masks(n=4)
    images = {
        "case01": image_like(masks["case01"], channels=1),
        "case02": image_like(masks["case02"], dtype=np.uint16),
    }
    root = make_dataset(tmp_path / "ds", masks, images=images)
    result = check(root)
    assert "images/case01.png" in result.files_with("image-channels-mixed")
    assert "images/case02.png" in result.files_with("image-depth-mixed")
    assert all(f.path == "" for f in result.by_code("image-depth-mixed"))


# ---------------------------------------------------------------- encodings


def test_binary_255_on_every_0_255_mask(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=3, top=255))
    result = check(root)
    assert result.files_with("binary-255") == ["masks/case00.png", "masks/case01.png", "masks/case02.png"]
    f = result.by_code("binary-255")[0]
    assert f.severity == "error" and f.fix == "binary-255"
    # statistics count 255 as class 1, so the imbalance stays visible
    assert result.stats.images_with_class == (3, 3)
    assert result.stats.class_fraction[1] > 0


def test_binary_255_in_thin_structures_too(tmp_path):
    masks = {}
    for i in range(3):
        m = np.zeros((96, 96), np.uint8)
        for x in range(5, 90, 15):
            cv2.line(m, (x, 0), (x + 20 + i, 95), 255, 1)  # 1-px vessels
        masks[f"v{i}"] = m
    root = make_dataset(tmp_path / "ds", masks, mask_ext=".gif")
    result = check(root)
    assert result.files_with("binary-255") == ["masks/v0.gif", "masks/v1.gif", "masks/v2.gif"]
    assert "ignore-border-255" not in result.codes()


def test_label_map_255_to_1_makes_0_255_fine(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=3, top=255))
    write_project(root, ["background", "cell"], label_map={"255": 1}, ignore_index=None)
    result = check(root)
    assert result.findings == ()
    assert result.stats.images_with_class == (3, 3)


def test_declared_ignore_255_does_not_hide_binary_255(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=3, top=255))
    write_project(root, ["background", "cell"], ignore_index=255)
    result = check(root)
    assert len(result.by_code("binary-255")) == 3
    assert "ignore_index" in result.by_code("binary-255")[0].message


def test_inconsistent_encoding_0_1_and_0_255(tmp_path):
    masks = binary_masks(n=6, top=1)
    masks["case05"] = (masks["case05"] * 255).astype(np.uint8)
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    (f,) = result.by_code("inconsistent-encoding")
    assert f.files == ("masks/case05.png",) and f.path == ""
    assert result.files_with("binary-255") == ["masks/case05.png"]


def test_color_mask_rgb(tmp_path):
    masks = {k: to_rgb(v) for k, v in index_masks(n=3, classes=3).items()}
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    assert result.files_with("color-mask") == ["masks/case00.png", "masks/case01.png", "masks/case02.png"]
    assert "label-out-of-range" not in result.codes()
    assert result.project.class_names[:3] == ["background", "aeroplane", "bicycle"]


def test_color_mask_grey_stored_as_rgb(tmp_path):
    masks = {k: np.dstack([v * 255] * 3) for k, v in binary_masks(n=2).items()}
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    assert len(result.by_code("color-mask")) == 2
    assert "grey mask stored as RGB" in result.by_code("color-mask")[0].message


def test_color_mask_palette_luminance(tmp_path):
    masks = {k: to_luminance(voc_style(v)) for k, v in index_masks(n=3, classes=5, h=96, w=120).items()}
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    assert result.files_with("color-mask") == ["masks/case00.png", "masks/case01.png", "masks/case02.png"]
    assert "label-out-of-range" not in result.codes()
    assert "brightness" in result.by_code("color-mask")[0].message
    assert result.project.num_classes == 21  # VOC classes recognised


def test_grey_index_masks_are_not_luminance(tmp_path):
    masks = {f"m{i}": blobs(64, 80, values=(15, 19, 20), seed=i) for i in range(3)}
    root = make_dataset(tmp_path / "ds", masks)
    assert "color-mask" not in check(root).codes()


def test_non_integer_float_masks(tmp_path):
    masks = binary_masks(n=2)
    root = make_dataset(tmp_path / "ds", {k: None for k in masks}, images={k: image_like(v) for k, v in masks.items()})
    save(root / "masks" / "case00.tif", masks["case00"].astype(np.float32))
    soft = cv2.GaussianBlur(masks["case01"].astype(np.float64), (5, 5), 0)
    save(root / "masks" / "case01.tif", soft)  # float64: Pillow cannot read it, OpenCV can
    result = check(root)
    assert result.files_with("non-integer-mask") == ["masks/case00.tif", "masks/case01.tif"]
    msgs = {f.path: f.message for f in result.by_code("non-integer-mask")}
    assert "not whole numbers" in msgs["masks/case01.tif"]


def test_mask_16bit_info(tmp_path):
    masks = {k: v.astype(np.uint16) for k, v in binary_masks(n=2).items()}
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    (f,) = result.by_code("mask-16bit")
    assert f.severity == "info" and set(f.files) == {"masks/case00.png", "masks/case01.png"}
    assert errors(result) == []


def test_lossy_mask_jpeg_file(tmp_path):
    masks = binary_masks(n=2, top=255, h=96, w=120)
    root = make_dataset(tmp_path / "ds", {"a": (masks["case00"], ".jpg"), "b": masks["case01"]})
    result = check(root)
    assert "lossy-mask" in codes_for(result, "masks/a.jpg")
    assert "lossy-mask" not in codes_for(result, "masks/b.png")


def test_lossy_mask_png_after_jpeg(tmp_path):
    m = blobs(128, 160, values=(255,), seed=4)
    ok, enc = cv2.imencode(".jpg", m, [cv2.IMWRITE_JPEG_QUALITY, 80])
    noisy = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    root = make_dataset(tmp_path / "ds", {"noisy": noisy, "clean": blobs(128, 160, values=(255,), seed=5)})
    result = check(root)
    assert "lossy-mask" in codes_for(result, "masks/noisy.png")
    assert "interpolation-artifacts" not in codes_for(result, "masks/noisy.png")
    assert not {"lossy-mask", "interpolation-artifacts"} & codes_for(result, "masks/clean.png")


@pytest.mark.parametrize("interp", [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA])
def test_interpolation_artifacts_resized_mask(tmp_path, interp):
    m = resized(blobs(128, 160, values=(255,), seed=6), 0.7, interp)
    root = make_dataset(tmp_path / "ds", {"resized": m, "clean": blobs(90, 112, values=(255,), seed=7)})
    result = check(root)
    assert "interpolation-artifacts" in codes_for(result, "masks/resized.png")
    assert "lossy-mask" not in codes_for(result, "masks/resized.png")
    assert "interpolation-artifacts" not in codes_for(result, "masks/clean.png")
    assert result.by_code("interpolation-artifacts")[0].severity == "warning"


def test_interpolation_artifacts_voc_index_mask(tmp_path):
    masks = {k: voc_style(v) for k, v in index_masks(n=3, classes=4, h=120, w=160).items()}
    masks["case00"] = resized(masks["case00"], 0.8)
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    assert "interpolation-artifacts" in codes_for(result, "masks/case00.png")
    assert errors(result) == []


def test_label_out_of_range_declared(tmp_path):
    masks = index_masks(n=3, classes=3)
    masks["case02"][:4, :4] = 7
    root = make_dataset(tmp_path / "ds", masks)
    write_project(root, ["background", "a", "b"], ignore_index=255)
    result = check(root)
    assert result.files_with("label-out-of-range") == ["masks/case02.png"]
    assert "7" in result.by_code("label-out-of-range")[0].message


def test_label_out_of_range_outlier_without_project(tmp_path):
    masks = binary_masks(n=12, top=1, h=48, w=60)
    masks["case03"][10:20, 10:20] = 200
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    assert result.files_with("label-out-of-range") == ["masks/case03.png"]
    assert result.project.num_classes == 2


def test_negative_values_are_out_of_range(tmp_path):
    root = make_dataset(tmp_path / "ds", {k: None for k in binary_masks(n=2)}, images={k: image_like(v) for k, v in binary_masks(n=2).items()})
    for k, v in binary_masks(n=2).items():
        arr = v.astype(np.int32)
        if k == "case01":
            arr[0, 0] = -1
        save(root / "masks" / f"{k}.tif", arr)
    result = check(root)
    assert "label-out-of-range" in codes_for(result, "masks/case01.tif")


# ---------------------------------------------------------------- dataset statistics findings


def test_empty_mask(tmp_path):
    masks = binary_masks(n=4)
    masks["case02"][:] = 0
    root = make_dataset(tmp_path / "ds", masks)
    (f,) = check(root).by_code("empty-mask")
    assert f.files == ("masks/case02.png",) and f.severity == "warning" and "1 of 4" in f.message


def test_class_imbalance_with_weights(tmp_path):
    masks = {}
    for i in range(3):
        m = np.zeros((100, 100), np.uint8)
        m[:50] = 1
        m[60:62, 60:63] = 2  # 6 px of 10,000: 0.06 %
        masks[f"m{i}"] = m
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    (f,) = result.by_code("class-imbalance")
    assert f.data["classes"] == [2]
    s = result.stats
    assert s.class_fraction[2] == pytest.approx(6 / 10000, rel=1e-3)
    assert s.images_with_class == (3, 3, 3)
    # median-frequency balancing: freq = class pixels / pixels of the masks with the class
    freq = np.array([0.4994, 0.5, 0.0006])
    assert s.suggested_weights == pytest.approx(tuple(np.median(freq) / freq), rel=1e-3)


def test_class_absent_when_declared(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=3, top=1))
    write_project(root, ["background", "cell", "nucleus"])
    result = check(root)
    (f,) = result.by_code("class-absent")
    assert f.data["classes"] == [2] and "nucleus" in f.message
    assert "label-gaps" not in result.codes()


def test_label_gaps_when_inferred(tmp_path):
    masks = {f"m{i}": blobs(64, 80, values=(1, 3), seed=i) for i in range(3)}
    root = make_dataset(tmp_path / "ds", masks)
    result = check(root)
    (f,) = result.by_code("label-gaps")
    assert f.data["missing"] == [2]
    assert "class-absent" not in result.codes()


def test_voc_palette_declares_classes(tmp_path):
    masks = {k: voc_style(v) for k, v in index_masks(n=3, classes=4).items()}
    root = make_dataset(tmp_path / "ds", masks, how="palette")
    result = check(root)
    assert "class-absent" in result.codes() and "label-gaps" not in result.codes()
    assert result.project.num_classes == 21


# ---------------------------------------------------------------- machinery


def test_progress_cancel_and_pool(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=8, top=255))
    calls = []
    one = check(root, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (8, 8) and len(calls) == 8
    with pytest.raises(CheckCancelled):
        check(root, cancel=lambda: len(calls) > 9, progress=lambda d, t: calls.append((d, t)))
    two = check_dataset(root, workers=2)
    assert [(f.code, f.files) for f in two.findings] == [(f.code, f.files) for f in one.findings]
    assert two.stats == one.stats
    with pytest.raises(CheckCancelled):
        check_dataset(root, workers=2, cancel=lambda: True)


def test_summary_is_small_and_has_no_arrays(tmp_path):
    import pickle

    path = save(tmp_path / "m.png", blobs(512, 512, values=(1, 2, 3)))
    s = analyse_mask(str(path), "m.png")
    assert len(pickle.dumps(s)) < 2000
    assert not any(isinstance(v, np.ndarray) for v in vars(s).values())


def test_json_of_result_uses_relative_paths(tmp_path):
    root = make_dataset(tmp_path / "ds", binary_masks(n=2, top=255))
    data = check(root).to_json()
    assert data["findings"][0]["files"] == ["masks/case00.png"]
    assert data["classes"] == [{"index": 0, "name": "background"}, {"index": 1, "name": "foreground"}]


def test_every_code_is_in_the_table():
    assert set(CODES) == {
        "missing-mask", "missing-image", "unreadable", "shape-mismatch", "label-out-of-range", "binary-255",
        "color-mask", "non-integer-mask", "lossy-mask", "interpolation-artifacts", "inconsistent-encoding",
        "empty-mask", "class-imbalance", "class-absent", "image-channels-mixed", "image-depth-mixed", "label-gaps",
        "ignore-border-255", "exif-rotation", "mask-16bit", "constant-image", "nan-image",
    }


def test_finding_and_statistics_round_trip_through_json(tmp_path):
    from fcnstudio.core.checker.findings import Finding
    from fcnstudio.core.checker.stats import DatasetStats
    from fcnstudio.core.resources import sample_dataset

    result = check_dataset(sample_dataset(), workers=1)
    for f in result.findings:
        back = Finding.from_json(json.loads(json.dumps(f.to_json(full=True))))
        assert (back.code, back.severity, back.path, back.files, back.fix, back.location, back.message) == \
            (f.code, f.severity, f.path, f.files, f.fix, f.location, f.message)
        short = Finding.from_json(f.to_json())  # the CLI's form: the fix is the code when fixable
        assert short.fixable == f.fixable and short.files == f.files
    stats = DatasetStats.from_json(json.loads(json.dumps(result.stats.to_json())))
    assert stats == result.stats
