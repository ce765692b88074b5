"""Video in and out: sources (``sources/``: files and streams, cameras, image folders), sinks
(``sinks/``: video file, preview, images, null), frames and their colour and timestamps, audio
copy, stream copy, and cutting/joining segments. Knows nothing of models."""
