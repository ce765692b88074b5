"""streamdeblur: remove motion and defocus blur from video, live and recorded.

Example:
    >>> import streamdeblur
    >>> streamdeblur.process("shaky.mp4", "sharp.mp4")      # doctest: +SKIP
"""

__version__ = "0.1.0"

from .api import process  # noqa: E402
from .engine.pipeline import Pipeline, Progress, RunResult  # noqa: E402

__all__ = ["Pipeline", "Progress", "RunResult", "__version__", "process"]


def __dir__() -> list[str]:
    """The public names only (``dir(streamdeblur)``), not the subpackages imports leave behind."""
    return sorted(__all__)
