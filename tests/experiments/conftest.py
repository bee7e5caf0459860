import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "training"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def tiny_model():
    """The tiny test model is in the registry only while a test of this folder runs."""
    from tinymodels import registered

    with registered():
        yield
