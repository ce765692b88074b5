"""The Python API as a script writer expects (issue 18): overrides checked like YAML, warnings in
the result, errors in the API's words, registries that list what they know, a clean namespace."""

from __future__ import annotations

import media
import pytest

import streamdeblur
from streamdeblur.engine.config import ConfigError
from streamdeblur.models import create_model


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return media.write_video(tmp_path_factory.mktemp("clip") / "in.mp4", frames=6, size=(96, 64))


def test_api_errors_use_api_words(tmp_path, clip, identity_yaml):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"x")
    with pytest.raises(Exception) as e:
        streamdeblur.process(clip, out, pipeline=str(identity_yaml))
    assert "overwrite=True" in str(e.value) and "--overwrite" not in str(e.value)


def test_api_returns_warnings_in_the_result(tmp_path, identity_yaml):
    # an odd-sized input is padded to an even size for H.264: a warning the API used to drop
    odd = media.write_video(tmp_path / "odd.mkv", frames=4, size=(97, 64), codec="ffv1", pix_fmt="yuv444p")
    result = streamdeblur.process(odd, tmp_path / "o.mp4", pipeline=str(identity_yaml))
    assert result.ok
    assert any("odd side" in w for w in result.warnings)


def test_create_model_of_an_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError) as e:
        create_model("nonexistent")
    msg = str(e.value)
    assert msg.startswith("unknown model 'nonexistent'") and "deeprftv2-t" in msg


def test_dir_of_the_package_is_clean():
    names = [n for n in dir(streamdeblur) if not n.startswith("_")]
    assert "annotations" not in names
    assert set(names) <= set(streamdeblur.__all__), names


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"tiles": 5}, "unknown override 'tiles'; allowed: "),
        ({"tile": 7}, "tile must be"),
        ({"crf": "high"}, "crf must be an integer"),
    ],
)
def test_api_overrides_are_checked_like_yaml(tmp_path, clip, overrides, words):
    with pytest.raises(ConfigError) as e:
        streamdeblur.process(clip, tmp_path / "o.mp4", overrides=overrides)
    assert words in str(e.value)
    assert not (tmp_path / "o.mp4").exists()
