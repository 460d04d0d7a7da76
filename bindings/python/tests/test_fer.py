"""Tests of the Python module (run by ctest with Debian's /usr/bin/python3)."""
import numpy as np
import pytest

import fer


def make_pipeline(**kw):
    return fer.Pipeline(threads=1, precision="fp32", **kw)


def test_version():
    assert fer.__version__ == fer.version() == "0.1.0"


def test_accepts_gray_bgr_bgra_and_strided_views():
    p = make_pipeline()
    for shape in [(60, 80), (60, 80, 3), (60, 80, 4)]:
        img = np.full(shape, 128, dtype=np.uint8)
        assert isinstance(p.process(img), list)
    big = np.zeros((200, 300, 3), dtype=np.uint8)
    view = big[10:150, 20:250]          # rows strided, pixels packed
    assert not view.flags["C_CONTIGUOUS"]
    assert isinstance(p.process(view), list)
    # A gray image with a channel axis added: numpy gives that axis stride 0.
    gray = np.full((60, 80), 128, dtype=np.uint8)
    assert gray[:, :, None].strides[2] == 0
    assert len(p.process(gray[:, :, None])) == len(p.process(gray))
    assert isinstance(p.process(np.atleast_3d(gray)), list)
    assert isinstance(p.process(gray[None, 0]), list)  # one row


def test_rejects_wrong_images_with_clear_errors():
    p = make_pipeline()
    with pytest.raises(TypeError, match="uint8"):
        p.process(np.zeros((10, 10), dtype=np.float32))
    with pytest.raises(TypeError, match="uint8"):
        p.process(np.zeros((10, 10), dtype=np.uint16))
    with pytest.raises(ValueError, match="channels"):
        p.process(np.zeros((10, 10, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="dimensions"):
        p.process(np.zeros((2, 10, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="packed"):
        p.process(np.zeros((20, 20, 3), dtype=np.uint8)[:, ::2])
    with pytest.raises(ValueError):
        p.process(np.zeros((0, 10), dtype=np.uint8))
    # A side past OpenCV's int (a strided view over one byte: never read) is refused, not wrapped.
    vast = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.uint8), shape=(2**32 + 48, 1), strides=(1, 1))
    with pytest.raises(ValueError, match="absurdly large"):
        p.process(vast)


def test_load_model():
    model = fer.load_model(fer.models()["default_model"])
    assert isinstance(model, fer.Model) and len(model.info["classes"]) >= 7


def test_paths_may_be_str_bytes_or_pathlike(tmp_path):
    import os
    import pathlib
    default = fer.models()["default_model"]
    model = fer.load_model(pathlib.Path(default))
    assert fer.Model.load(os.fsencode(default)).classes == model.classes
    model.save(tmp_path / "copy.fermodel")
    assert fer.Model.load(tmp_path / "copy.fermodel").classes == model.classes
    # A file name that is not UTF-8, as os.listdir gives it (surrogate escapes): its own bytes are used.
    odd = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.fermodel")
    with pytest.raises(fer.Error) as e:
        fer.load_model(odd)
    assert e.value.status == "not_found"
    model.save(odd)
    assert os.path.exists(os.fsencode(odd)) and fer.load_model(odd).classes == model.classes
    with pytest.raises(TypeError):
        fer.load_model(42)


def test_errors_are_fer_error_with_status(tmp_path):
    with pytest.raises(fer.Error) as e:
        fer.load_model(str(tmp_path / "missing.fermodel"))
    assert e.value.status == "not_found"
    bad = tmp_path / "bad.fermodel"
    bad.write_bytes(b"not a model")
    with pytest.raises(fer.Error) as e:
        fer.Model.load(str(bad))
    assert e.value.status == "corrupt_data"
    with pytest.raises(fer.Error):
        fer.Pipeline(detector="no_such_detector")
    # A message quoting a file name that is not UTF-8 is still a fer.Error (bad bytes as U+FFFD),
    # and bytes paths are paths.
    with pytest.raises(fer.Error) as e:
        fer.Model.load(bytes(tmp_path) + b"/caf\xe9.fermodel")
    assert e.value.status == "not_found" and "caf\ufffd.fermodel" in str(e.value)
    with pytest.raises(fer.Error) as e:
        fer.evaluate(bytes(tmp_path) + b"/caf\xe9.fermodel", str(tmp_path))
    assert e.value.status == "not_found"


def test_threads_sharing_one_pipeline_get_the_same_results(sample3):
    """Pipeline calls release the GIL; threads sharing one Pipeline take turns (its detector keeps state)."""
    from concurrent.futures import ThreadPoolExecutor
    p = make_pipeline(detector="haar")
    frames = [sample3, sample3[:, ::-1].copy(), sample3[100:, :].copy(), sample3] * 3
    alone = [[(f.label, f.box) for f in p.process(img)] for img in frames]
    with ThreadPoolExecutor(4) as pool:
        shared = [[(f.label, f.box) for f in faces] for faces in pool.map(p.process, frames)]
    assert shared == alone and any(alone)


def test_results_on_a_sample_photo(sample3):
    image = sample3
    faces = make_pipeline().process(image)
    assert len(faces) >= 2          # three faces by eye; Haar finds 3 at the default settings
    for f in faces:
        x, y, w, h = f.box
        assert 0 <= x < image.shape[1] and 0 <= y < image.shape[0] and w > 20 and h > 20
        assert f.label in fer.Pipeline(threads=1).classes


def test_test_time_augmentation(sample3):
    # Flip averages each face with its mirror image: the mirrored photo gives
    # the mirrored faces the same probabilities.
    plain = make_pipeline(detector="haar").process(sample3)
    flip = make_pipeline(detector="haar", tta="flip").process(sample3)
    mirrored = make_pipeline(detector="haar", tta="flip").process(np.ascontiguousarray(sample3[:, ::-1]))
    ten = fer.Stream(threads=1, precision="fp32", detector="haar", tta="tencrop").push(sample3, 0.0)
    assert len(plain) == len(flip) >= 2 and len(ten) >= 1
    assert [f.box for f in plain] == [f.box for f in flip]
    assert any(np.abs(np.asarray(a.probabilities) - np.asarray(b.probabilities)).max() > 1e-4
               for a, b in zip(plain, flip))
    for p in [f.probabilities for f in flip] + [t.raw_array for t in ten]:
        assert abs(float(np.sum(p)) - 1) < 1e-4
    width = sample3.shape[1]
    for f in flip:
        x, y, w, h = f.box
        match = [m for m in mirrored if abs(m.box[0] - (width - x - w)) < 3 and abs(m.box[1] - y) < 3]
        if match:  # Haar is not exactly mirror-symmetric: faces it finds on both sides only
            assert np.abs(np.asarray(match[0].probabilities) - np.asarray(f.probabilities)).max() < 0.05
    with pytest.raises(fer.Error, match="tta must be auto, none, center, flip or tencrop"):
        make_pipeline(tta="mirror")


def test_int8_recognizes_like_fp32(sample3):
    # The shipped default model carries an int8 calibration (fer quantize).
    assert fer.load_model(fer.models()["default_model"]).info["int8_calibrated"]
    fp32 = make_pipeline(detector="haar")
    int8 = fer.Pipeline(threads=1, precision="int8", detector="haar")
    assert fp32.precision == "fp32" and int8.precision == "int8"
    a, b = fp32.process(sample3), int8.process(sample3)
    assert len(a) == len(b) >= 2
    for fa, fb in zip(a, b):
        assert fa.box == fb.box
        assert np.abs(np.asarray(fa.probabilities) - np.asarray(fb.probabilities)).max() < 0.1
    auto = fer.Pipeline(threads=1, detector="haar").precision
    assert auto in ("int8", "bf16", "fp32")


def test_quantize_writes_a_calibrated_copy(tmp_path, sample3):
    import shutil
    src = fer.models()["default_model"]
    data = tmp_path / "data" / "happy"
    data.mkdir(parents=True)
    for i in range(3):                      # three crops of the sample photo as a tiny folder dataset
        import cv2
        cv2.imwrite(str(data / ("face%d.png" % i)), sample3[40 * i:40 * i + 200, 100:300])
    out = tmp_path / "q.fermodel"
    fer.quantize(src, str(tmp_path / "data"), str(out), resize=True, images=3, threads=1)
    info = fer.load_model(str(out)).info
    assert info["int8_calibrated"] and "3 images drawn with seed 0" in info["provenance"]["int8_calibration"]
    assert fer.Pipeline(model=str(out), precision="int8", threads=1, detector="haar").precision == "int8"
    with pytest.raises(fer.Error) as e:
        fer.quantize(src, str(tmp_path / "missing"), str(tmp_path / "x.fermodel"))
    assert e.value.status == "not_found" and not (tmp_path / "x.fermodel").exists()
    (tmp_path / "test").mkdir()          # calibration tunes on its data: a test split is refused, whatever it holds
    with pytest.raises(fer.Error, match="not the test split") as e:
        fer.quantize(str(tmp_path / "no_such.fermodel"), str(tmp_path / "test"), str(tmp_path / "x.fermodel"))
    assert e.value.status == "invalid_argument" and not (tmp_path / "x.fermodel").exists()


def test_landmarks_on_a_sample_photo(sample3):
    image = sample3
    without = make_pipeline(landmarks="none").process(image)
    assert without and all(f.landmarks.shape == (0, 2) for f in without)
    faces = make_pipeline(landmarks="68_tiny").process(image)
    assert faces
    for f in faces:
        x, y, w, h = f.box
        points = f.landmarks
        assert points.shape == (68, 2) and points.dtype == np.float32
        assert np.all(points[:, 0] > x - 0.25 * w) and np.all(points[:, 0] < x + 1.25 * w)
        assert np.all(points[:, 1] > y - 0.25 * h) and np.all(points[:, 1] < y + 1.25 * h)
        eyes, mouth = points[36:48, 1].mean(), points[48:68, 1].mean()
        assert eyes < mouth
    with pytest.raises(fer.Error, match="68_tiny"):
        make_pipeline(landmarks="no_such_landmarks")


def test_attention_maps_on_a_sample_photo(sample3, acnn_model):
    faces = make_pipeline(model=acnn_model, return_attention=True, detector="haar").process(sample3)
    assert faces
    for f in faces:
        a = f.attention
        assert a.dtype == np.float32 and a.ndim == 2 and a.shape[0] > 1 and a.shape[1] > 1
        assert np.all(np.isfinite(a)) and np.all(a >= 0)
        assert abs(float(a.sum()) - 1.0) < 1e-3  # a distribution over the crop's cells
        assert "attention" in dir(f)
    # not asked for, or a model without attention: an empty map
    plain = make_pipeline(model=acnn_model, detector="haar").process(sample3)
    assert len(plain) == len(faces) and all(f.attention.shape == (0, 0) for f in plain)
    default = make_pipeline(return_attention=True, detector="haar").process(sample3)
    assert default and all(f.attention.shape == (0, 0) for f in default)


def test_pipeline_shares_a_loaded_model(sample3, acnn_model):
    model = fer.Model.load(acnn_model)
    assert model.precision == "fp32"
    a = make_pipeline(model=model, detector="haar")
    b = make_pipeline(model=acnn_model, detector="haar")
    fa, fb = a.process(sample3), b.process(sample3)
    assert fa and len(fa) == len(fb) and a.model.info["architecture"] == "acnn"
    for x, y in zip(fa, fb):
        assert x.box == y.box and np.allclose(x.probabilities, y.probabilities, atol=1e-5)
    bf16 = fer.Model.load(acnn_model, precision="bf16")
    assert bf16.precision == "bf16" and make_pipeline(model=bf16, detector="haar").precision == "bf16"
    with pytest.raises(fer.Error, match="precision"):
        fer.Model.load(acnn_model, precision="fp8")
    with pytest.raises(TypeError, match="fer.Model"):
        fer.Pipeline(model=3)
    import pathlib
    assert make_pipeline(model=pathlib.Path(acnn_model), detector="haar").model.info["architecture"] == "acnn"


def test_faces_below_min_face_size_are_reported_as_skipped(sample3):
    image = sample3
    faces, skipped = make_pipeline().process_with_skipped(image)
    assert len(faces) >= 2 and skipped == []
    sides = sorted(f.box[2] for f in faces)  # min_face_size applies to the box width
    # A minimum between the smallest and the largest face: the small ones are skipped, not lost.
    limit = int(sides[0] + sides[-1]) // 2 if sides[0] < sides[-1] else int(sides[0]) + 1
    big, small = make_pipeline(min_face_size=limit).process_with_skipped(image)
    assert len(big) + len(small) == len(faces) and len(small) >= 1
    assert all(w < limit for (x, y, w, h), score in small)
    assert all(f.box[2] >= limit for f in big)


def test_model_info_and_features():
    p = make_pipeline(return_features=True)
    info = p.model.info
    assert info["classes"] == p.classes
    assert len(p.classes) >= 7
    faces = p.process(np.full((120, 120, 3), 90, dtype=np.uint8))
    for f in faces:
        assert f.probabilities.shape == (len(p.classes),)
        assert abs(float(f.probabilities.sum()) - 1.0) < 1e-4
        assert f.features.size > 0
        assert "FaceResult(" in repr(f)


def synthetic_faces(n, size=48):
    """n distinct uint8 gray patterns of size x size."""
    y, x = np.mgrid[0:size, 0:size]
    return [((x * (3 + f) + y * (5 + 2 * f) + (x * y) // (4 + f)) % 256).astype(np.uint8) for f in range(n)]


def test_model_predict_on_face_images():
    model = fer.load_model(fer.models()["default_model"])
    k = len(model.classes)
    faces = synthetic_faces(3)
    one = model.predict(faces[0])
    assert one.shape == (k,) and one.dtype == np.float32 and abs(float(one.sum()) - 1) < 1e-4
    # a batch across the 256-face chunks gives each face its own probabilities
    batch = model.predict([faces[i % 3] for i in range(300)])
    assert batch.shape == (300, k)
    for i in range(3):
        assert np.abs(batch[i::3] - model.predict(faces[i])).max() < 1e-5
    assert model.predict([]).shape == (0, k)
    # a BGR copy of a gray face, a strided view, and the face at another size
    bgr = np.repeat(faces[0][:, :, None], 3, axis=2)
    assert np.abs(model.predict(bgr) - one).max() < 1e-6
    padded = np.zeros((48, 64), dtype=np.uint8)
    padded[:, :48] = faces[0]
    assert np.abs(model.predict(padded[:, :48]) - one).max() < 1e-6
    assert model.predict(np.kron(faces[0], np.ones((2, 2), dtype=np.uint8))).shape == (k,)
    # flip: a face and its mirror image get the same probabilities
    flip = model.predict(faces[0], tta="flip")
    assert np.abs(model.predict(np.ascontiguousarray(faces[0][:, ::-1]), tta="flip") - flip).max() < 1e-5
    assert np.abs(flip - one).max() > 1e-6
    assert model.predict(faces[:2], tta="tencrop").shape == (2, k)
    # batch arrays: N x H x W (gray) and N x H x W x C are several faces
    stack = np.stack(faces)
    assert np.abs(model.predict(stack) - model.predict(faces)).max() < 1e-6
    assert np.abs(model.predict(np.repeat(stack[:, :, :, None], 3, axis=3)) - model.predict(faces)).max() < 1e-5
    assert model.predict(np.ascontiguousarray(stack[:, :, :4])).shape == (k,)  # last axis 4 long: one 3 x 48 BGRA image
    # N x H x W x 1 (FER-2013's usual layout; the added axis has stride 0)
    assert np.abs(model.predict(stack[..., None]) - model.predict(faces)).max() < 1e-6


def test_model_predict_rejects_bad_faces():
    model = fer.load_model(fer.models()["default_model"])
    face = synthetic_faces(1)[0]
    with pytest.raises(TypeError, match=r"faces\[1\].*uint8"):
        model.predict([face, face.astype(np.float32)])
    with pytest.raises(ValueError, match=r"faces\[0\].*channels"):
        model.predict([np.zeros((48, 48, 2), dtype=np.uint8)])
    with pytest.raises(TypeError, match=r"faces\[1\] is not a numpy array"):
        model.predict([face, "face.png"])
    with pytest.raises(TypeError, match="sequence"):
        model.predict(42)
    with pytest.raises(ValueError, match=r"faces\[0\].*channels"):
        model.predict(np.zeros((2, 48, 48, 2), dtype=np.uint8))
    with pytest.raises(ValueError):
        model.predict(np.zeros((0, 48), dtype=np.uint8))
    with pytest.raises(fer.Error, match="tta must be auto, none, center, flip or tencrop"):
        model.predict(face, tta="mirror")


def test_pipeline_recognizes_given_boxes(sample3):
    p = make_pipeline(detector="haar")
    found = p.process(sample3)
    assert len(found) >= 2
    given = p.recognize(sample3, [f.box for f in found])
    as_array = p.recognize(sample3, np.array([f.box for f in found], dtype=np.float32))
    assert len(given) == len(as_array) == len(found)
    for a, b, c in zip(found, given, as_array):
        assert b.box == a.box and b.score == 0 and b.label == a.label
        assert np.abs(np.asarray(a.probabilities) - np.asarray(b.probabilities)).max() < 1e-5
        assert np.abs(np.asarray(c.probabilities) - np.asarray(b.probabilities)).max() < 1e-5
    assert p.recognize(sample3, []) == []
    # detect() is the same detector without recognition; its boxes recognize alike.
    boxes, skipped = p.detect(sample3)
    assert skipped == [] and [b for b, score in boxes] == [f.box for f in found]
    assert [score for b, score in boxes] == [f.score for f in found]
    with pytest.raises(ValueError, match="empty"):
        p.detect(np.zeros((0, 0, 3), dtype=np.uint8))
    with pytest.raises(fer.Error, match="outside"):
        p.recognize(sample3, [(sample3.shape[1] + 100, 10, 40, 40)])
    with pytest.raises(fer.Error):
        p.recognize(sample3, [(10, 10, float("nan"), 40)])
    with pytest.raises(ValueError, match=r"boxes\[0\].*3 numbers"):
        p.recognize(sample3, [(10, 10, 40)])
    with pytest.raises(TypeError, match=r"boxes\[1\]"):
        p.recognize(sample3, [(10, 10, 40, 40), ("a", "b", "c", "d")])
