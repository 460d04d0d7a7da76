"""libfer: real-time facial expression recognition.

    import fer, cv2
    pipeline = fer.Pipeline()                 # best detector available ("auto") + the default model
    for face in pipeline.process(cv2.imread("photo.jpg")):
        print(face.box, face.label, face.probabilities)

    stream = fer.Stream()                     # video: tracked faces, smoothed labels
    for frame in fer.VideoSource("clip.mp4"):
        for face in stream.push(frame.image, frame.timestamp):
            print(face.track_id, face.smoothed_label, face.probabilities)

    faces = pipeline.recognize(image, [(x, y, w, h)])   # boxes from your own detector
    probs = fer.load_model("models/default.fermodel").predict([crop1, crop2])  # images that are faces

Images are numpy uint8 arrays: HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA); they
are read in place (no copy). Errors raise fer.Error (with a .status), and
TypeError/ValueError for images of the wrong kind.
"""
import json as _json
import os as _os

from ._fer import (Error, FaceResult, Model, Pipeline, Stream, TrackedFace, VideoFrame, VideoSource, draw, models,
                   quantize, set_num_threads, version, __version__)
from ._fer import evaluate as _evaluate
from ._fer import _choose_view, _teacher_targets, _train


def load_model(path):
    """Loads a model file (.fermodel); raises fer.Error (status "not_found", "corrupt_data", ...)."""
    return Model.load(path)


def evaluate(model, data, format="folder", tta="auto", per_image=False, split="", occlusion="none",
             occlusion_seed=1, precision="fp32", resize=False, threads=0):
    """Evaluates a model file on a labelled dataset; returns the report as a dict.

    model: a model file, or a list of model files: their ensemble (the mean of
    their class probabilities; report["ensemble_size"] says how many).
    format and split: the dataset's layout and subset (FERPlus: format="ferplus",
    split="train", "valid" or "test"; a folder dataset's split is a sub-folder).
    tta: "auto" (each model's own view, Model.info["view"]), "none", "center",
    "flip" or "tencrop". occlusion: "none", "eye", "mouth" or
    "eye_or_mouth", a black rectangle drawn per image from occlusion_seed.
    precision: "fp32", "bf16" or "int8" (a calibrated model). resize: resize
    images of another size to the model's input instead of rejecting them.
    threads: compute and decoding threads, 0 = all cores.
    per_image: also report["correct"], one character per image in dataset order
    ('1' right, '0' wrong), for paired comparisons of two models."""
    model = _model_paths(model)
    return _json.loads(_evaluate(model, _os.fspath(data), format, tta, per_image, split, occlusion, occlusion_seed,
                                 precision, resize, threads))


def _model_paths(model):
    """One model path (str, bytes or os.PathLike) or a sequence of them, as str or bytes."""
    if isinstance(model, (str, bytes, _os.PathLike)):
        return _os.fspath(model)
    return [_os.fspath(m) for m in model]


def choose_view(model, data, out, format="folder", split="", precision="fp32", resize=False, threads=0):
    """Sets a model's own test-time view (what tta="auto" runs), as `fer choose-view`:
    evaluates the model file on the labelled data `data` (its validation split;
    a test split, or a whole fer2013csv file, raises fer.Error, status
    "invalid_argument") in each one-pass
    view, "none" (the whole face crop) and "center" (its centre crop of 90% of
    the area), and writes the model to `out`
    with the more accurate one ("none" unless "center" is strictly better), the
    accuracies in its metrics and the data in its provenance.
    Returns {"view": chosen, "accuracy": {"none": a, "center": b}}."""
    view, accuracy = _choose_view(_os.fspath(model), _os.fspath(data), _os.fspath(out), format, split, precision,
                                  resize, threads)
    return {"view": view, "accuracy": dict(accuracy)}


def annotate(image, faces, classes=None, probability_bars=True, font_scale=0.0):
    """Returns a copy of `image` with `faces` (from Pipeline.process or Stream.push) drawn on it."""
    out = image.copy()
    draw(out, list(faces), classes or [], probability_bars, font_scale)
    return out


def teacher_targets(model, data, out, format="folder", split="", tta="auto", precision="fp32", resize=False,
                    threads=0):
    """Computes offline distillation targets for train(teacher_targets=out): the
    model file's (or a list of model files: their ensemble's) class probabilities
    for every image of the training data `data`, with the test-time views `tta`
    ("auto", "none", "center", "flip" or "tencrop"), written to the file `out`. Give the data as
    train() reads it (same data, format and split): the file records the
    dataset's fingerprint and training refuses targets of other images. A test
    split, or a whole fer2013csv file, raises fer.Error (status "invalid_argument").
    Returns the file's provenance as a dict (models, views, images, and the
    targets' accuracy on the data's own labels)."""
    model = _model_paths(model)
    return _json.loads(_teacher_targets(model, _os.fspath(data), _os.fspath(out), format, split, tta, precision,
                                        resize, threads))


def train(data, on_epoch=None, **options):
    """Trains a model on the labelled dataset `data` (the GIL is released while it runs).

    Options (all keyword, as in `fer train --help`): format, split, val, val_format, val_split,
    image_root, cache_dir, soft_targets, architecture, architecture_options (dict),
    head, head_options (dict), input_size, channels, crop_margin, init_model, epochs, batch_size,
    optimizer, lr, momentum, weight_decay, norm_bias_decay (False: no weight decay on batch-norm
    parameters and biases), warmup_epochs, min_lr_ratio, grad_clip, ema_decay, label_smoothing,
    class_weights, augment (True, False, or a dict of settings to change: crop_scale_min,
    crop_ratio, hflip, rotate_degrees, translate, brightness, contrast, erase_prob, erase_max_area,
    mixup_alpha, cutmix_prob, jpeg_prob, jpeg_quality_min), dlp_weight, dlp_k, teacher_model (a
    model file, or a list of them: distil their ensemble), kd_weight, kd_temperature,
    kd_feature_weight, kd_attention_weight, teacher_precision ("fp32", "bf16" or "int8"; default:
    precision), teacher_targets (a file from `fer teacher-targets`: offline distillation, no teacher
    runs while training; with kd_weight), precision, threads, out_dir, resume, seed,
    max_steps_per_epoch, progress, calibration_images (int8 calibration of the best model at the
    end; 0 = none), provenance (dict of str: recorded in the model file), world_size, rank and
    master ("HOST:PORT"; data-parallel training, one process per rank, as `fer train --world-size`).
    `on_epoch(report_dict)` is called after every epoch; an exception raised in it
    (or Ctrl-C) stops training and is re-raised.

    Returns a dict: model (fer.Model), best_epoch, best_path, history (list of dicts).
    """
    options["data"] = _os.fspath(data)
    for key in ("val", "out_dir", "init_model", "cache_dir", "image_root", "teacher_targets"):
        if isinstance(options.get(key), _os.PathLike):
            options[key] = _os.fspath(options[key])
    teacher = options.get("teacher_model")
    if teacher is not None:
        options["teacher_model"] = _model_paths(teacher)
    return _train(options, on_epoch)


__all__ = ["Error", "FaceResult", "Model", "Pipeline", "Stream", "TrackedFace", "VideoFrame", "VideoSource",
           "annotate", "choose_view", "draw", "evaluate", "load_model", "models", "quantize", "set_num_threads", "teacher_targets", "train", "version", "__version__"]
