"""Which of a file's video streams a run deblurs.

A file may hold more than one video stream: a cover picture (an MP4's ``covr``, an MKV's attached
image, a music file's album art), a thumbnail or preview track, a second camera. Taking the first one
(``container.streams.video[0]``) deblurred a 32×32 thumbnail track stored before the footage into a
one-frame video and left the footage out, without a word; a music file with album art came out as
a one-frame video of its cover.

The rule is FFmpeg's own (``ffmpeg``'s automatic choice of a video stream): cover pictures never, then
the largest picture, a stream marked *default* counting 5 000 000 pixels more; on a tie the first.
Every place that reads the input's video asks :func:`video_stream`, so a single run, a segmented run
and ``info`` all mean the same stream.
"""

from __future__ import annotations

from av.stream import Disposition

from .streamcopy import is_cover

#: what FFmpeg adds to a default stream's score (its ``map_auto_video``): a near-tie goes to the default
DEFAULT_BONUS = 5_000_000


def video_stream(container):
    """The video stream of ``container`` that a run deblurs (None: there is none but cover pictures).

    Args:
        container: an open PyAV input container.

    Returns:
        The ``av.VideoStream`` with the largest picture among those that are not cover pictures (a
        *default* stream counts :data:`DEFAULT_BONUS` pixels more; on a tie the first), or None.
    """
    best, score = None, -1
    for s in container.streams.video:
        if is_cover(s):
            continue
        cc = s.codec_context
        area = (cc.width * cc.height if cc is not None else 0) + DEFAULT_BONUS * bool(s.disposition & Disposition.default)
        if area > score:
            best, score = s, area
    return best


def left_out(container, chosen) -> str | None:
    """A line naming the video streams other than ``chosen`` (and cover pictures) a run leaves out, or None.

    Example: ``has 2 video streams: deblurring #1 (1920x1080 h264); left out: #0 (320x180 h264)``.
    """
    others = [s for s in container.streams.video if s is not chosen and not is_cover(s)]
    if not others:
        return None

    def what(s) -> str:
        cc = s.codec_context
        return f"#{s.index} ({cc.width}x{cc.height} {cc.name})" if cc is not None else f"#{s.index}"

    return (
        f"has {len(others) + 1} video streams: deblurring {what(chosen)} (the largest, as ffmpeg chooses); "
        f"left out: {', '.join(what(s) for s in others)}"
    )
