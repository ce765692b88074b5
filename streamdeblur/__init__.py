"""streamdeblur: remove motion and defocus blur from video, live and recorded."""

from __future__ import annotations

__version__ = "0.1.0"
