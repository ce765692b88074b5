"""streamdeblur: remove motion and defocus blur from video, live and recorded.

Example:
    >>> import streamdeblur
    >>> streamdeblur.process("shaky.mp4", "sharp.mp4")      # doctest: +SKIP

The public names are imported on first use (PEP 562), so ``streamdeblur.train`` and
``streamdeblur.models`` import without PyAV (a GPU training machine may not have it).
"""

import importlib

__version__ = "0.1.0"

#: public name → the module that defines it
_LAZY = {
    "process": ".api",
    "Deblurrer": ".api",
    "Pipeline": ".engine.pipeline",
    "Progress": ".engine.pipeline",
    "RunResult": ".engine.pipeline",
    # the errors the API raises (all also in streamdeblur.errors)
    "StreamdeblurError": ".errors",
    "ConfigError": ".errors",
    "SourceError": ".errors",
    "SinkError": ".errors",
    "OutputExistsError": ".errors",
    "WeightsError": ".errors",
    "UnknownNameError": ".errors",
    "ProcessingError": ".errors",
    "UsageError": ".errors",
}

__all__ = [
    "ConfigError",
    "Deblurrer",
    "OutputExistsError",
    "Pipeline",
    "ProcessingError",
    "Progress",
    "RunResult",
    "SinkError",
    "SourceError",
    "StreamdeblurError",
    "UnknownNameError",
    "UsageError",
    "WeightsError",
    "__version__",
    "process",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names only (``dir(streamdeblur)``), not the subpackages imports leave behind."""
    return sorted(__all__)
