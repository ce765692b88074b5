"""Compute policy: device, threads and bf16 choice (``runtime``), tiled inference (``tiling``)."""
