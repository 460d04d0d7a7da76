"""Shared fixtures of the Python tests."""
import os

import pytest


@pytest.fixture
def sample3():
    """face-api's sample3.jpg (three faces) as a BGR array; skips when set-up has not fetched it."""
    photo = os.path.join(os.environ.get("FER_ASSETS_DIR", ""), "face-api", "demo", "sample3.jpg")
    if not os.path.exists(photo):
        pytest.skip("sample photos not fetched (scripts/setup.sh)")
    cv2 = pytest.importorskip("cv2", reason="python3-opencv is needed to decode the photo")
    return cv2.imread(photo)


@pytest.fixture
def acnn_model():
    """The shipped attention model (models/fer2013_acnn.fermodel); skips when it is not found."""
    path = os.path.join(os.environ.get("FER_MODELS_DIR", ""), "fer2013_acnn.fermodel")
    if not os.path.exists(path):
        pytest.skip("models/fer2013_acnn.fermodel not found (set FER_MODELS_DIR)")
    return path
