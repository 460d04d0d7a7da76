#!/usr/bin/env python3
"""libfer from Python through ctypes and the C ABI (libfer_c.so) alone: no
pybind11 module, no third-party package. The same pattern works from any
language with a C FFI.

    fer_ctypes.py [--lib path/to/libfer_c.so] [IMAGE.ppm|IMAGE.pgm]

Without an image it runs on a generated one. It recognizes the faces of the
image, then pushes three frames of a slow pan through a stream and prints the
track ids and smoothed labels, then recognizes the image's centre square as
an image that already is a face (fer_model_predict: no detection).
"""
import argparse
import ctypes
import ctypes.util
import os
import sys

# --- the parts of fer.h this program uses (layouts must match the header) ----
FER_OK = 0
FER_PIXEL_GRAY8, FER_PIXEL_BGR24, FER_PIXEL_BGRA32, FER_PIXEL_RGB24 = 0, 1, 2, 3
FER_C_VERSION_NUMBER = 100


class ImageView(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("width", ctypes.c_int32), ("height", ctypes.c_int32),
                ("stride", ctypes.c_size_t), ("format", ctypes.c_int)]


class PipelineOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("detector", ctypes.c_char_p), ("model_path", ctypes.c_char_p),
                ("precision", ctypes.c_char_p), ("score_threshold", ctypes.c_float),
                ("min_face_size", ctypes.c_int32), ("max_detect_side", ctypes.c_int32),
                ("threads", ctypes.c_int32), ("return_features", ctypes.c_int32)]


class StreamOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("smoothing_seconds", ctypes.c_double),
                ("max_missed_seconds", ctypes.c_double), ("detect_every", ctypes.c_int32),
                ("min_track_confidence", ctypes.c_float), ("label_margin", ctypes.c_float),
                ("iou_threshold", ctypes.c_float), ("min_visible_fraction", ctypes.c_float)]


class Box(ctypes.Structure):
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float), ("width", ctypes.c_float), ("height", ctypes.c_float)]


class Face(ctypes.Structure):
    _fields_ = [("box", Box), ("score", ctypes.c_float), ("label_index", ctypes.c_int32), ("label", ctypes.c_char_p),
                ("confidence", ctypes.c_float)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("architecture", ctypes.c_char_p), ("head", ctypes.c_char_p),
                ("input_width", ctypes.c_int32), ("input_height", ctypes.c_int32), ("input_channels", ctypes.c_int32),
                ("num_classes", ctypes.c_int32), ("trained", ctypes.c_int32),
                ("view", ctypes.c_char_p)]  # the model's own test-time view: what tta None ("auto") runs


class TrackInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("track_id", ctypes.c_int64), ("smoothed_label", ctypes.c_char_p),
                ("age_seconds", ctypes.c_double), ("frames_tracked", ctypes.c_int64),
                ("frames_missed", ctypes.c_int64), ("smoothed_label_index", ctypes.c_int32),
                ("smoothed_confidence", ctypes.c_float), ("detected", ctypes.c_int32),
                ("tracking_confidence", ctypes.c_float)]


class FerError(RuntimeError):
    pass


def load_library(path):
    lib = ctypes.CDLL(path or ctypes.util.find_library("fer_c") or "libfer_c.so")
    P = ctypes.POINTER
    handle = ctypes.c_void_p
    sigs = {
        "fer_version": ([], ctypes.c_char_p),
        "fer_version_number": ([], ctypes.c_uint32),
        "fer_status_string": ([ctypes.c_int], ctypes.c_char_p),
        "fer_last_error": ([], ctypes.c_char_p),
        "fer_pipeline_options_init_size": ([P(PipelineOptions), ctypes.c_size_t], None),
        "fer_pipeline_create": ([P(PipelineOptions), P(handle)], ctypes.c_int),
        "fer_pipeline_destroy": ([handle], None),
        "fer_pipeline_process": ([handle, P(ImageView), P(handle)], ctypes.c_int),
        "fer_pipeline_model": ([handle, P(handle)], ctypes.c_int),
        "fer_model_class_name": ([handle, ctypes.c_size_t, P(ctypes.c_char_p)], ctypes.c_int),
        "fer_model_get_info": ([handle, P(ModelInfo)], ctypes.c_int),
        "fer_model_predict": ([handle, P(ImageView), ctypes.c_size_t, ctypes.c_char_p, P(ctypes.c_float),
                               ctypes.c_size_t], ctypes.c_int),
        "fer_results_destroy": ([handle], None),
        "fer_results_count": ([handle, P(ctypes.c_size_t)], ctypes.c_int),
        "fer_results_face": ([handle, ctypes.c_size_t, P(Face)], ctypes.c_int),
        "fer_results_probabilities": ([handle, ctypes.c_size_t, P(P(ctypes.c_float)), P(ctypes.c_size_t)],
                                      ctypes.c_int),
        "fer_results_track": ([handle, ctypes.c_size_t, P(TrackInfo)], ctypes.c_int),
        "fer_stream_options_init_size": ([P(StreamOptions), ctypes.c_size_t], None),
        "fer_stream_create": ([P(PipelineOptions), P(StreamOptions), P(handle)], ctypes.c_int),
        "fer_stream_destroy": ([handle], None),
        "fer_stream_push": ([handle, P(ImageView), ctypes.c_double, P(handle)], ctypes.c_int),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


def check(lib, status, what):
    if status != FER_OK:
        raise FerError("%s: %s: %s" % (what, lib.fer_status_string(status).decode(), lib.fer_last_error().decode()))


def read_pnm(path):
    """A binary PPM (P6) or PGM (P5) with maxval 255 -> (bytes, width, height, channels)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        sys.exit("cannot open %s: %s" % (path, e.strerror))
    if data[:2] not in (b"P5", b"P6"):
        raise ValueError("%s is not a binary PPM/PGM file" % path)
    fields, pos = [], 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while data[end:end + 1].isdigit():
            end += 1
        fields.append(int(data[pos:end]))
        pos = end
    width, height, maxval = fields
    if maxval != 255:
        raise ValueError("%s: only maxval 255 is supported" % path)
    channels = 3 if data[:2] == b"P6" else 1
    pixels = data[pos + 1:pos + 1 + width * height * channels]
    if len(pixels) != width * height * channels:
        raise ValueError("%s is truncated" % path)
    return pixels, width, height, channels


def generated_image(width=320, height=240):
    """A gray gradient with a bright disc: no face, but a real image to process."""
    rows = []
    for y in range(height):
        rows.append(bytes(255 if (x - 160) ** 2 + (y - 120) ** 2 < 50 ** 2 else (x + y) % 256 for x in range(width)))
    return b"".join(rows), width, height, 1


def view_of(buffer, width, height, channels, stride, offset=0):
    """A borrowed fer_image_view into `buffer` (a ctypes array) starting at byte `offset`."""
    fmt = FER_PIXEL_RGB24 if channels == 3 else FER_PIXEL_GRAY8   # PPM stores red first
    return ImageView(ctypes.addressof(buffer) + offset, width, height, stride, fmt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", help="binary PPM/PGM image (default: a generated image)")
    ap.add_argument("--lib", default=os.environ.get("FER_C_LIBRARY"), help="path of libfer_c.so")
    ap.add_argument("--model", help="model file (default: the default model)")
    args = ap.parse_args()

    lib = load_library(args.lib)
    if lib.fer_version_number() != FER_C_VERSION_NUMBER:
        sys.exit("libfer_c is version %d; this program was written for %d" %
                 (lib.fer_version_number(), FER_C_VERSION_NUMBER))
    pixels, width, height, channels = read_pnm(args.image) if args.image else generated_image()
    buffer = (ctypes.c_uint8 * len(pixels)).from_buffer_copy(pixels)
    name = args.image or "generated image"

    options = PipelineOptions()
    # The *_init_size functions write only the fields this program declares (the plain *_init
    # would write the library's whole, longer struct past the end of this one).
    lib.fer_pipeline_options_init_size(ctypes.byref(options), ctypes.sizeof(options))
    options.threads = 1
    if args.model:
        options.model_path = args.model.encode()
    pipeline, model, results = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    check(lib, lib.fer_pipeline_create(ctypes.byref(options), ctypes.byref(pipeline)), "fer_pipeline_create")
    try:
        check(lib, lib.fer_pipeline_model(pipeline, ctypes.byref(model)), "fer_pipeline_model")
        view = view_of(buffer, width, height, channels, width * channels)
        check(lib, lib.fer_pipeline_process(pipeline, ctypes.byref(view), ctypes.byref(results)),
              "fer_pipeline_process")
        count = ctypes.c_size_t()
        check(lib, lib.fer_results_count(results, ctypes.byref(count)), "fer_results_count")
        print("libfer %s via ctypes: %s: %dx%d, %d face(s)" % (lib.fer_version().decode(), name, width, height,
                                                                 count.value))
        for i in range(count.value):
            face = Face()
            probs, n = ctypes.POINTER(ctypes.c_float)(), ctypes.c_size_t()
            check(lib, lib.fer_results_face(results, i, ctypes.byref(face)), "fer_results_face")
            check(lib, lib.fer_results_probabilities(results, i, ctypes.byref(probs), ctypes.byref(n)),
                  "fer_results_probabilities")
            classes = []
            for k in range(n.value):
                cls = ctypes.c_char_p()
                check(lib, lib.fer_model_class_name(model, k, ctypes.byref(cls)), "fer_model_class_name")
                classes.append("%s %.2f" % (cls.value.decode(), probs[k]))
            b = face.box
            print("face %d: box (%.0f, %.0f, %.0f x %.0f) %s %.2f | %s" %
                  (i, b.x, b.y, b.width, b.height, face.label.decode(), face.confidence, " ".join(classes)))
        lib.fer_results_destroy(results)
        results = ctypes.c_void_p()

        # A stream: three frames of a view panning 4 pixels right per frame.
        stream_options = StreamOptions()
        lib.fer_stream_options_init_size(ctypes.byref(stream_options), ctypes.sizeof(stream_options))
        stream = ctypes.c_void_p()
        check(lib, lib.fer_stream_create(ctypes.byref(options), ctypes.byref(stream_options), ctypes.byref(stream)),
              "fer_stream_create")
        try:
            for frame in range(3):
                view = view_of(buffer, width - 12, height, channels, width * channels, 4 * frame * channels)
                check(lib, lib.fer_stream_push(stream, ctypes.byref(view), frame / 30.0, ctypes.byref(results)),
                      "fer_stream_push")
                check(lib, lib.fer_results_count(results, ctypes.byref(count)), "fer_results_count")
                tracks = []
                for i in range(count.value):
                    track = TrackInfo()
                    track.struct_size = ctypes.sizeof(TrackInfo)
                    check(lib, lib.fer_results_track(results, i, ctypes.byref(track)), "fer_results_track")
                    tracks.append("#%d %s %.2f%s" % (track.track_id, track.smoothed_label.decode(),
                                                     track.smoothed_confidence, "" if track.detected else " (predicted)"))
                print("frame %d: %d track(s) %s" % (frame, count.value, ", ".join(tracks)))
                lib.fer_results_destroy(results)
                results = ctypes.c_void_p()
            # A rejected call: an earlier timestamp. The status and message come back; nothing is raised in C.
            status = lib.fer_stream_push(stream, ctypes.byref(view), 0.0, ctypes.byref(results))
            print("pushing an earlier frame: %s (%s)" % (lib.fer_status_string(status).decode(),
                                                        lib.fer_last_error().decode()))
        finally:
            lib.fer_stream_destroy(stream)

        # An image that already is a face (a crop of your own, a dataset's 48x48 image) needs no detection:
        # fer_model_predict. The image's centre square stands in for one here.
        info = ModelInfo()
        info.struct_size = ctypes.sizeof(ModelInfo)
        check(lib, lib.fer_model_get_info(model, ctypes.byref(info)), "fer_model_get_info")
        side = min(width, height)
        offset = ((height - side) // 2 * width + (width - side) // 2) * channels
        face = view_of(buffer, side, side, channels, width * channels, offset)
        probs = (ctypes.c_float * info.num_classes)()
        check(lib, lib.fer_model_predict(model, ctypes.byref(face), 1, b"flip", probs, info.num_classes),
              "fer_model_predict")
        best = max(range(info.num_classes), key=lambda k: probs[k])
        cls = ctypes.c_char_p()
        check(lib, lib.fer_model_class_name(model, best, ctypes.byref(cls)), "fer_model_class_name")
        print("centre %dx%d as a face (fer_model_predict, flip): %s %.2f" % (side, side, cls.value.decode(),
                                                                           probs[best]))
    finally:
        lib.fer_results_destroy(results)
        lib.fer_pipeline_destroy(pipeline)


if __name__ == "__main__":
    main()
