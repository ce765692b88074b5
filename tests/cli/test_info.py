"""``info`` and ``models`` say what this installation does (issue 18): the real scan, bf16, CPU and
threads, the Ray hint unmangled; ``models`` prints as it measures, has a quick mode, and never
cuts names when piped."""

from __future__ import annotations

from importlib import metadata

from streamdeblur.cli import main
from streamdeblur.models import list_models


def test_info_names_the_scan_bf16_cpu_and_keeps_the_ray_hint(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["info"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "inference scan" in text and "pure PyTorch (chunked)" not in text
    assert "bf16 (auto)" in text and "usable cores" in text and "threads" in text
    try:
        metadata.version("ray")
    except metadata.PackageNotFoundError:
        assert 'pip install "streamdeblur[ray]"' in text  # rich markup used to swallow "[ray]"


def test_models_quick_prints_every_whole_name_one_line_each_when_piped(capsys):
    assert main(["models", "--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[0] == "name"
    names = [ln.split("\t")[0] for ln in lines[1:]]
    assert names == list_models()  # whole names, none cut with an ellipsis


def test_models_prints_each_row_as_soon_as_it_is_measured(capsys, monkeypatch):
    import streamdeblur.cli.models as info  # the models command lives in cli/models.py since the restructure

    seen: list[int] = []
    real = info.create_model

    def spy(name, *a, **k):
        seen.append(len(capsys.readouterr().out.splitlines()))
        return real(name, *a, **k)

    monkeypatch.setattr(info, "create_model", spy)
    assert main(["models", "--quick"]) == 0
    # before the n-th model is built, the header and the rows of the models before it are out already
    assert seen[0] == 1 and all(n == 1 for n in seen[1:]), seen
