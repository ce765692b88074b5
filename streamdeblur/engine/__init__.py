"""The engine: a config (``config``) becomes a pipeline (``build``) of threads and queues (``pipeline``)
that moves frames from a source through the stages to a sink."""
