"""The console script itself: what a Ctrl-C does before the command line is ready."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HOOK = '''
import os, signal, sys

class _InterruptAt:
    """A real SIGINT to this process at the moment it starts importing module {name!r}."""
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, _InterruptAt())
'''


def _ctrl_c_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("module", "said"),
    [
        ("rich", "streamdeblur: interrupted (while starting)"),  # the command line's own imports
        ("importlib.metadata", "streamdeblur: interrupted (while starting)"),  # building the parser (--version's)
        ("torch", "interrupted"),  # a command's (PyTorch loads when a command needs it: tests/cli/test_startup.py)
    ],
)
@pytest.mark.parametrize("how", ["script", "module"])
def test_ctrl_c_while_the_cli_is_importing_is_one_line_and_exit_130(tmp_path, how, module, said):
    """Ctrl-C in the first second or two (PyTorch, OpenCV, PyAV being imported) printed a 20–40-line
    traceback; now it is one line and exit 130, as later."""
    (tmp_path / "sitecustomize.py").write_text(HOOK.format(name=module))
    script = shutil.which("streamdeblur", path=str(Path(sys.executable).parent))
    cmd = [script] if how == "script" else [sys.executable, "-m", "streamdeblur"]
    if cmd[0] is None:
        pytest.fail("the streamdeblur console script is not installed next to this Python")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    # as from a terminal: a shell's background job (`make test &` without job control) ignores SIGINT,
    # and so would this child, which inherits that
    args = [*cmd, "models", "--quick"]
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, preexec_fn=_ctrl_c_default)
    assert r.returncode == 130, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and r.stderr.strip() == said, r.stderr
