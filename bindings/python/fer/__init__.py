"""libfer: real-time facial expression recognition.

    import fer, cv2
    pipeline = fer.Pipeline()                 # Haar detector + the default model
    for face in pipeline.process(cv2.imread("photo.jpg")):
        print(face.box, face.label, face.probabilities)

Images are numpy uint8 arrays: HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA); they
are read in place (no copy). Errors raise fer.Error (with a .status), and
TypeError/ValueError for images of the wrong kind.
"""
import json as _json

from ._fer import Error, FaceResult, Model, Pipeline, set_num_threads, version, __version__
from ._fer import evaluate as _evaluate


def evaluate(model, data, format="folder", tta="none"):
    """Evaluates a model file on a labelled dataset; returns the report as a dict."""
    return _json.loads(_evaluate(model, data, format, tta))


__all__ = ["Error", "FaceResult", "Model", "Pipeline", "evaluate", "set_num_threads", "version", "__version__"]
