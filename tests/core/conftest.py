import pytest

from snpdiff.config import compose_config

FAST = ["debug=fast", "logger=none", "callbacks.progress_bar=null"]


@pytest.fixture
def fast_cfg(tmp_path):
    """Compose the ``debug=fast`` config writing into a temporary output folder; extra overrides appended."""

    def make(*overrides: str, output_dir=None):
        return compose_config([*FAST, f"paths.output_dir={output_dir or tmp_path / 'run'}", *overrides])

    return make
