"""Tests of fer.Stream, fer.VideoSource, fer.draw/annotate, fer.train and fer.models."""
import math
import os

import numpy as np
import pytest

import fer


def photo_640(image):
    """The sample photo scaled to 640 pixels wide."""
    import cv2
    scale = 640.0 / image.shape[1]
    return cv2.resize(image, (640, int(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def make_stream(**kw):
    kw.setdefault("threads", 1)
    kw.setdefault("precision", "fp32")
    return fer.Stream(**kw)


def test_models_lists_registered_components():
    m = fer.models()
    assert "haar" in m["detectors"]
    assert "small_cnn" in m["extractors"] and len(m["extractors"]) >= 2
    assert "linear" in m["classifiers"]
    assert isinstance(m["default_model"], str)
    if m["default_model"]:
        assert os.path.exists(m["default_model"])


def test_stream_tracks_faces_with_stable_ids_on_a_panned_photo(sample3):
    photo = photo_640(sample3)
    # Haar, whose detections of this view the counts below were written for (the default is "auto").
    stream = make_stream(detect_every=5, detector="haar")
    classes = stream.classes
    first_ids = None
    for i in range(8):
        view = photo[i:i + 400, 2 * i:2 * i + 600]     # pans 2 px right, 1 px down per frame; strided rows
        assert not view.flags["C_CONTIGUOUS"]
        faces = stream.push(view, i / 15.0)
        assert len(faces) >= 2                          # three faces by eye
        ids = [f.track_id for f in faces]
        assert ids == sorted(ids)
        if first_ids is None:
            first_ids = ids
        assert ids == first_ids                         # no id changes while panning slowly
        for f in faces:
            assert f.detected == (i % 5 == 0)
            assert f.frames_tracked == i + 1
            assert set(f.probabilities) == set(classes) == set(f.raw_probabilities)
            assert abs(sum(f.probabilities.values()) - 1.0) < 1e-4
            assert f.smoothed_array.shape == f.raw_array.shape == (len(classes),)
            assert f.smoothed_array.dtype == np.float32
            assert abs(float(f.raw_array.sum()) - 1.0) < 1e-4
            assert f.smoothed_label in classes and f.label in classes
            assert f.smoothed_label == classes[f.smoothed_label_index]
            assert math.isclose(f.raw_probabilities[f.label], float(f.raw_array[f.label_index]), rel_tol=1e-6)
            assert math.isclose(f.probabilities[f.smoothed_label], float(f.smoothed_array[f.smoothed_label_index]),
                                rel_tol=1e-6)
            x, y, w, h = f.box
            assert w > 20 and h > 20 and 0 <= f.confidence <= 1
            r = repr(f)
            assert r.startswith("TrackedFace(track_id=%d" % f.track_id) and f.smoothed_label in r
    assert stream.frame_count == 8
    stream.reset()
    after = stream.push(photo[:400, :600], 8 / 15.0)
    assert after and min(f.track_id for f in after) > max(first_ids)


def test_stream_shares_a_loaded_model():
    model = fer.Model.load(fer.models()["default_model"]) if fer.models()["default_model"] else None
    if model is None:
        pytest.skip("no default model file")
    a = make_stream(model=model)
    b = make_stream(model=model)
    assert a.classes == b.classes == model.classes
    img = np.full((120, 160, 3), 90, dtype=np.uint8)
    assert a.push(img, 0.0) == [] and b.push(img, 0.0) == []
    # The default detector is "auto": the best one whose weights are present, else haar.
    assert a.detector in ("ssd_mobilenet", "tiny_face", "haar")
    assert f"Stream(detector='{a.detector}'" in repr(a)


def test_stream_accepts_strided_views_with_the_same_results_as_a_copy():
    big = np.zeros((300, 400, 3), dtype=np.uint8)
    big[:] = (np.arange(400, dtype=np.uint32) % 251).astype(np.uint8)[None, :, None]
    view = big[20:260, 30:350]
    assert not view.flags["C_CONTIGUOUS"] and view.strides[0] == 400 * 3
    s1, s2 = make_stream(), make_stream()
    r1 = s1.push(view, 0.0)
    r2 = s2.push(np.ascontiguousarray(view), 0.0)
    assert [f.box for f in r1] == [f.box for f in r2]
    for shape in [(60, 80), (60, 80, 3), (60, 80, 4)]:      # gray, BGR, BGRA
        assert isinstance(make_stream().push(np.full(shape, 128, dtype=np.uint8), 0.0), list)


def test_stream_frames_carry_landmarks_and_attention(sample3, acnn_model):
    photo = photo_640(sample3)
    stream = make_stream(model=acnn_model, detector="haar", landmarks="68_tiny", return_attention=True, detect_every=1)
    faces = stream.push(photo, 0.0)
    assert faces
    for f in faces:
        assert f.landmarks.shape == (68, 2) and f.landmarks.dtype == np.float32
        a = f.attention
        assert a.ndim == 2 and a.shape[0] > 1 and abs(float(a.sum()) - 1.0) < 1e-3
    plain = make_stream(model=acnn_model, detector="haar", landmarks="none").push(photo, 0.0)
    assert plain and all(f.landmarks.shape == (0, 2) and f.attention.shape == (0, 0) for f in plain)


def test_stream_rejects_bad_images_and_timestamps():
    s = make_stream()
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    s.push(img, 1.0)
    with pytest.raises(fer.Error, match="timestamp") as e:
        s.push(img, 0.5)                                 # earlier than the previous frame
    assert e.value.status == "invalid_argument"
    with pytest.raises(fer.Error):
        s.push(img, float("nan"))
    with pytest.raises(fer.Error):
        s.push(img, float("inf"))
    with pytest.raises(TypeError, match="uint8"):
        s.push(img.astype(np.float32), 2.0)
    with pytest.raises(TypeError, match="uint8"):
        s.push(img.astype(np.int8), 2.0)
    with pytest.raises(ValueError, match="dimensions"):
        s.push(np.zeros((64,), dtype=np.uint8), 2.0)
    with pytest.raises(ValueError, match="dimensions"):
        s.push(np.zeros((1, 64, 64, 3), dtype=np.uint8), 2.0)
    with pytest.raises(ValueError, match="channels"):
        s.push(np.zeros((64, 64, 2), dtype=np.uint8), 2.0)
    with pytest.raises(ValueError, match="packed"):
        s.push(img[:, ::2], 2.0)                         # pixels not packed within rows
    with pytest.raises(ValueError, match="packed"):
        s.push(np.asfortranarray(np.zeros((64, 64), dtype=np.uint8)), 2.0)
    with pytest.raises(ValueError):
        s.push(np.zeros((0, 64, 3), dtype=np.uint8), 2.0)
    with pytest.raises(TypeError):
        s.push("not an image", 2.0)
    assert s.frame_count == 1                            # rejected frames are not counted
    s.push(img, 1.0)                                     # an equal timestamp is accepted
    with pytest.raises(fer.Error, match="detect_every"):
        fer.Stream(detect_every=0)
    with pytest.raises(fer.Error, match="redetect_every"):
        fer.Stream(redetect_every=0)
    with pytest.raises(fer.Error) as e:
        fer.Stream(detector="no_such_detector")
    assert e.value.status == "unknown_component"
    with pytest.raises(fer.Error) as e:
        fer.Stream(model="/nonexistent/model.fermodel")
    assert e.value.status == "not_found"


def test_video_source_iterates_an_image_sequence(tmp_path):
    cv2 = pytest.importorskip("cv2", reason="python3-opencv is needed to write the frames")
    for i in range(5):
        frame = np.zeros((48, 64, 3), dtype=np.uint8)
        frame[:, :, 1] = 40 * i
        cv2.imwrite(str(tmp_path / ("img_%04d.png" % i)), frame)
    src = fer.VideoSource(str(tmp_path / "img_%04d.png"), fps=10)
    assert src.fps == 10 and not src.is_live
    frames = list(src)
    assert [f.index for f in frames] == list(range(5))
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(5)])
    for i, f in enumerate(frames):
        assert f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8
        assert int(f.image[10, 10, 1]) == 40 * i           # each frame keeps its own pixels
    assert "VideoFrame(index=4" in repr(frames[4])
    assert src.read() is None                               # at the end
    # frames of a video source run through a stream
    stream = make_stream()
    for f in fer.VideoSource(str(tmp_path / "img_%04d.png"), fps=10):
        assert stream.push(f.image, f.timestamp) == []
    assert stream.frame_count == 5
    with pytest.raises(fer.Error) as e:
        fer.VideoSource(str(tmp_path / "missing_%04d.png"))
    assert e.value.status == "not_found"


def test_draw_and_annotate(sample3):
    photo = photo_640(sample3)
    pipeline = fer.Pipeline(threads=1, precision="fp32")
    faces = pipeline.process(photo)
    assert faces
    out = fer.annotate(photo, faces, pipeline.classes)
    assert out.shape == photo.shape and out is not photo
    changed = np.any(out != photo, axis=2)
    x, y, w, h = (int(v) for v in faces[0].box)
    assert changed[y:y + h + 3, x:x + 3].mean() > 0.5      # the box's left edge is drawn
    assert changed.mean() < 0.5                            # and not the whole image
    # in place on a writeable image, and tracked faces from a stream
    canvas = photo.copy()
    assert fer.draw(canvas, faces) is canvas and np.any(canvas != photo)
    tracked = make_stream().push(photo, 0.0)
    drawn = fer.annotate(photo, tracked)
    assert np.any(drawn != photo)
    gray = np.ascontiguousarray(photo[:, :, 1])
    assert np.any(fer.annotate(gray, faces) != gray)
    # rejections
    ro = photo.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fer.draw(ro, faces)
    with pytest.raises(TypeError, match="FaceResult"):
        fer.draw(photo.copy(), ["not a face"])
    with pytest.raises(ValueError, match="not both"):
        fer.draw(photo.copy(), faces + tracked)
    with pytest.raises(TypeError, match="uint8"):
        fer.draw(photo.astype(np.float32), faces)


def write_tiny_dataset(root, per_class=8):
    """Two classes told apart by brightness: dark 'sad' and bright 'happy' faces."""
    cv2 = pytest.importorskip("cv2", reason="python3-opencv is needed to write the images")
    rng = np.random.default_rng(0)
    for name, level in [("sad", 40), ("happy", 200)]:
        os.makedirs(root / name)
        for i in range(per_class):
            img = np.clip(rng.normal(level, 20, (48, 48)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / name / ("%d.png" % i)), img)


def test_train_and_evaluate_a_tiny_model(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    reports = []
    r = fer.train(str(tmp_path / "data"), on_epoch=reports.append, epochs=2, batch_size=8, max_steps_per_epoch=2,
                  threads=1, out_dir=str(tmp_path / "run"), seed=3, lr=0.01)
    assert r["best_epoch"] in (1, 2)
    assert [e["epoch"] for e in reports] == [1, 2] and len(r["history"]) == 2
    assert all(e["train_loss"] > 0 for e in reports)
    assert os.path.exists(r["best_path"])
    model = r["model"]
    assert isinstance(model, fer.Model) and model.info["trained"]
    assert sorted(model.classes) == ["happiness", "sadness"]
    assert fer.Model.load(r["best_path"]).classes == model.classes
    report = fer.evaluate(r["best_path"], str(tmp_path / "data"))
    assert report["count"] == 16 and 0 <= report["accuracy"] <= 1
    assert "correct" not in report
    per = fer.evaluate(r["best_path"], str(tmp_path / "data"), per_image=True)
    assert len(per["correct"]) == 16 and set(per["correct"]) <= {"0", "1"}
    assert per["correct"].count("1") == round(per["accuracy"] * 16)
    # A list of model files is their ensemble; the model with itself is the model.
    twice = fer.evaluate([r["best_path"], r["best_path"]], str(tmp_path / "data"), per_image=True)
    assert twice["ensemble_size"] == 2 and report["ensemble_size"] == 1
    assert twice["correct"] == per["correct"]
    assert twice["loss"] == pytest.approx(report["loss"], rel=1e-5)
    with pytest.raises(fer.Error):
        fer.evaluate([], str(tmp_path / "data"))
    # The dataset options: a folder dataset's split is a sub-folder; seeded occlusion; bf16.
    assert fer.evaluate(r["best_path"], str(tmp_path), split="data")["count"] == 16
    mouth = fer.evaluate(r["best_path"], str(tmp_path / "data"), occlusion="mouth", occlusion_seed=5, threads=1)
    assert mouth["occlusion"] == "mouth" and mouth["occlusion_seed"] == 5 and mouth["count"] == 16
    assert mouth["loss"] != pytest.approx(report["loss"], rel=1e-6)
    assert fer.evaluate(r["best_path"], str(tmp_path / "data"), precision="bf16")["count"] == 16
    with pytest.raises(fer.Error, match="occlusion"):
        fer.evaluate(r["best_path"], str(tmp_path / "data"), occlusion="nose")
    with pytest.raises(fer.Error):
        fer.evaluate(r["best_path"], str(tmp_path / "data"), precision="fp8")
    # The model's own view: chosen on data (none unless center is more accurate), kept in the file, run by "auto".
    assert model.info["view"] == "none" and report["tta"] == "none"
    chosen = fer.choose_view(r["best_path"], tmp_path / "data", tmp_path / "viewed.fermodel", threads=1)
    center = fer.evaluate(r["best_path"], str(tmp_path / "data"), tta="center")
    assert chosen["accuracy"] == {"none": pytest.approx(report["accuracy"]), "center": pytest.approx(center["accuracy"])}
    assert chosen["view"] == ("center" if center["accuracy"] > report["accuracy"] else "none")
    viewed = fer.Model.load(tmp_path / "viewed.fermodel")
    assert viewed.info["view"] == chosen["view"]
    assert viewed.info["metrics"]["view_accuracy_center"] == pytest.approx(center["accuracy"])
    assert "none " in viewed.info["provenance"]["view_chosen_on"]
    again = fer.evaluate(str(tmp_path / "viewed.fermodel"), str(tmp_path / "data"))
    assert again["tta"] == chosen["view"]
    assert again["loss"] == pytest.approx((center if chosen["view"] == "center" else report)["loss"], rel=1e-6)
    assert fer.Pipeline(model=viewed, detector="haar", threads=1).view == chosen["view"]
    assert fer.Pipeline(model=viewed, detector="haar", threads=1, tta="flip").view == "flip"
    # Both tune on their data: a test split is refused (here the same images under the name "test").
    os.rename(tmp_path / "data", tmp_path / "test")
    with pytest.raises(fer.Error, match="choose_view tunes on its data"):
        fer.choose_view(r["best_path"], tmp_path / "test", tmp_path / "refused.fermodel", threads=1)
    with pytest.raises(fer.Error, match="teacher_targets tunes on its data"):
        fer.teacher_targets(r["best_path"], tmp_path / "test", tmp_path / "refused.fertargets", threads=1)
    assert not (tmp_path / "refused.fermodel").exists() and not (tmp_path / "refused.fertargets").exists()
    os.rename(tmp_path / "test", tmp_path / "data")
    assert fer.Stream(model=viewed, detector="haar", threads=1).view == chosen["view"]
    # Distillation from a list of teachers (their ensemble), named in the provenance.
    kd = fer.train(str(tmp_path / "data"), epochs=1, batch_size=8, max_steps_per_epoch=1, threads=1,
                   out_dir=str(tmp_path / "kd"), teacher_model=[r["best_path"], r["best_path"]], kd_weight=0.5,
                   kd_temperature=2.0, teacher_precision="bf16")
    assert kd["model"].info["provenance"]["teacher"] == r["best_path"] + ", " + r["best_path"]
    assert kd["model"].info["provenance"]["teacher_precision"] == "bf16"
    with pytest.raises(fer.Error, match="kd temperature"):
        fer.train(str(tmp_path / "data"), epochs=1, threads=1, out_dir=str(tmp_path / "kd_bad"),
                  teacher_model=r["best_path"], kd_weight=0.5, kd_temperature=0.0)
    # Offline targets: computed from the trained model (with flip views) on the training data and
    # trained from; the provenance names the file; targets of other data are refused.
    targets = tmp_path / "t.fertargets"
    prov = fer.teacher_targets(r["best_path"], tmp_path / "data", targets, tta="flip", threads=1)
    assert prov["images"] == 16 and prov["tta"] == "flip" and 0 <= prov["accuracy_on_these_labels"] <= 1
    tt = fer.train(str(tmp_path / "data"), epochs=1, batch_size=8, max_steps_per_epoch=1, threads=1,
                   out_dir=str(tmp_path / "kd_tt"), teacher_targets=str(targets), kd_weight=0.5)
    assert tt["model"].info["provenance"]["teacher_targets"] == str(targets)
    write_tiny_dataset(tmp_path / "other", per_class=5)
    fer.teacher_targets([r["best_path"], r["best_path"]], tmp_path / "other", tmp_path / "o.fertargets", threads=1)
    with pytest.raises(fer.Error, match="another dataset"):
        fer.train(str(tmp_path / "data"), epochs=1, batch_size=8, threads=1, out_dir=str(tmp_path / "kd_tt_bad"),
                  teacher_targets=str(tmp_path / "o.fertargets"), kd_weight=0.5)
    with pytest.raises(fer.Error, match="at least one model"):
        fer.teacher_targets([], tmp_path / "data", tmp_path / "none.fertargets")
    # A missing targets file is NotFound; targets exclude a teacher model.
    with pytest.raises(fer.Error, match="teacher targets") as e:
        fer.train(str(tmp_path / "data"), epochs=1, batch_size=8, threads=1, out_dir=str(tmp_path / "kd_targets"),
                  teacher_targets=str(tmp_path / "missing.fertargets"), kd_weight=0.5)
    assert e.value.status == "not_found"
    with pytest.raises(fer.Error, match="not both"):
        fer.train(str(tmp_path / "data"), epochs=1, batch_size=8, threads=1, out_dir=str(tmp_path / "kd_targets"),
                  teacher_targets=str(tmp_path / "missing.fertargets"), teacher_model=r["best_path"], kd_weight=0.5)


def test_train_without_weight_decay_on_norms_and_biases(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    data = str(tmp_path / "data")
    common = dict(epochs=1, batch_size=8, max_steps_per_epoch=2, threads=1, seed=3, lr=0.05, weight_decay=0.5,
                  progress=False)
    decay_all = fer.train(data, out_dir=str(tmp_path / "all"), **common)
    weights_only = fer.train(data, out_dir=str(tmp_path / "weights"), norm_bias_decay=False, **common)
    again = fer.train(data, out_dir=str(tmp_path / "weights2"), norm_bias_decay=False, **common)
    loss = lambda r: fer.evaluate(r["best_path"], data)["loss"]
    # Same seed and data: only the decay of batch-norm parameters and biases differs.
    assert loss(weights_only) != pytest.approx(loss(decay_all), rel=1e-6)
    assert loss(weights_only) == pytest.approx(loss(again), rel=1e-6)


def test_train_takes_every_training_option(tmp_path):
    write_tiny_dataset(tmp_path / "data")
    data = str(tmp_path / "data")
    common = dict(epochs=1, batch_size=8, max_steps_per_epoch=2, threads=1, seed=3, lr=0.05, progress=False)
    loss = lambda r: fer.evaluate(r["best_path"], data)["loss"]
    plain = fer.train(data, out_dir=str(tmp_path / "plain"), augment=True, calibration_images=0, **common)
    # An augmentation dict changes those settings (and turns augmentation on): every
    # sample re-encoded, at quality 100 or from 5 up (the same random draws otherwise).
    jpeg = lambda q: fer.train(data, out_dir=str(tmp_path / ("jpeg%d" % q)), calibration_images=0,
                               augment={"erase_prob": 0, "jpeg_prob": 1.0, "jpeg_quality_min": q}, **common)
    assert loss(jpeg(5)) != pytest.approx(loss(jpeg(100)), rel=1e-6)
    # The optimiser and run settings reach training, and the provenance the model file.
    tuned = fer.train(data, out_dir=str(tmp_path / "tuned"), momentum=0.5, warmup_epochs=0, min_lr_ratio=0.1,
                      grad_clip=1.0, ema_decay=0.9, class_weights=True, crop_margin=0.1, format="folder",
                      val_format="folder", dlp_weight=0.1, dlp_k=2, calibration_images=0,
                      provenance={"note": "from the Python test"}, **common)
    assert loss(tuned) != pytest.approx(loss(plain), rel=1e-6)
    info = fer.load_model(tuned["best_path"]).info
    assert info["provenance"]["note"] == "from the Python test"
    assert "int8_calibration" not in info["provenance"]
    calibrated = fer.train(data, out_dir=str(tmp_path / "calibrated"), calibration_images=16, **common)
    assert "int8_calibration" in fer.load_model(calibrated["best_path"]).info["provenance"]
    with pytest.raises(TypeError, match="no setting 'nope'"):
        fer.train(data, out_dir=str(tmp_path / "bad"), augment={"nope": 1}, **common)
    with pytest.raises(TypeError, match="True, False or a dict"):
        fer.train(data, out_dir=str(tmp_path / "bad"), augment="yes", **common)
    with pytest.raises(TypeError, match="erase_prob"):
        fer.train(data, out_dir=str(tmp_path / "bad"), augment={"erase_prob": "half"}, **common)
    with pytest.raises(ValueError, match="jpeg_quality_min"):
        fer.train(data, out_dir=str(tmp_path / "bad"), augment={"jpeg_quality_min": 0}, **common)
    with pytest.raises(fer.Error, match="JPEG re-encoding probability"):
        fer.train(data, out_dir=str(tmp_path / "bad"), augment={"jpeg_prob": 2.0}, **common)
    with pytest.raises(fer.Error, match="rank"):
        fer.train(data, out_dir=str(tmp_path / "bad"), world_size=2, rank=2, **common)
    with pytest.raises(fer.Error, match="momentum"):
        fer.train(data, out_dir=str(tmp_path / "bad"), momentum=1.0, **common)


def test_train_rejections(tmp_path):
    with pytest.raises(TypeError, match="no_such_option"):
        fer.train(str(tmp_path), no_such_option=1)
    # Wrong types name the option; out-of-range ints are refused, not wrapped.
    with pytest.raises(TypeError, match="epochs"):
        fer.train(str(tmp_path), epochs="5")
    with pytest.raises(TypeError, match="lr"):
        fer.train(str(tmp_path), lr="0.1")
    with pytest.raises(ValueError, match="batch_size"):
        fer.train(str(tmp_path), batch_size=2**32 + 8)
    with pytest.raises(TypeError, match="on_epoch"):
        fer.train(str(tmp_path), on_epoch=42)
    with pytest.raises(fer.Error) as e:
        fer.train(str(tmp_path / "missing"), out_dir=str(tmp_path / "run"), threads=1)
    assert e.value.status == "not_found"
    write_tiny_dataset(tmp_path / "data")

    def stop(report):
        raise RuntimeError("stop after epoch %d" % report["epoch"])

    with pytest.raises(RuntimeError, match="stop after epoch 1"):
        fer.train(str(tmp_path / "data"), on_epoch=stop, epochs=3, batch_size=8, max_steps_per_epoch=1, threads=1,
                  out_dir=str(tmp_path / "run2"))
    # Options given as None keep their defaults; paths may be os.PathLike.
    r = fer.train(tmp_path / "data", epochs=np.int64(1), batch_size=8, max_steps_per_epoch=1, threads=1, val=None,
                  teacher_model=None, out_dir=tmp_path / "run3")  # numpy ints are ints
    assert r["best_epoch"] == 1


def test_ctrl_c_stops_training_within_an_epoch(tmp_path):
    """Ctrl-C is seen while an epoch runs, not only at its end."""
    import _thread
    import threading
    import time
    write_tiny_dataset(tmp_path / "data", per_class=300)
    timer = threading.Timer(1.0, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            # about a minute an epoch on one thread (a full-width ResNet-18, 600 images)
            fer.train(tmp_path / "data", architecture="resnet18", epochs=1, batch_size=8, threads=1,
                      out_dir=tmp_path / "run")
    finally:
        timer.cancel()
    assert time.monotonic() - start < 20


def test_stream_reports_faces_below_min_face_size_as_skipped(sample3):
    photo = photo_640(sample3)
    faces, skipped = make_stream(detector="haar").push_with_skipped(photo, 0.0)
    assert len(faces) >= 2 and skipped == []
    # Every face below the minimum: none tracked, all reported as skipped with box and score.
    faces, skipped = make_stream(detector="haar", min_face_size=100000).push_with_skipped(photo, 0.0)
    assert faces == [] and len(skipped) >= 2
    for (x, y, w, h), score in skipped:
        assert 10 < w < 100000 and 0 <= x < photo.shape[1] and score > 0
