"""The light core: commands that need the ``app`` extra stop with one line naming it.

The missing extra is simulated in a fresh interpreter by an import hook that hides
modules (``sys.meta_path``), so nothing of aquaembed is patched; a real venv with only
``pip install .`` behaves the same (checked by hand, see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aquaembed.errors import MissingExtraError
from aquaembed.extras import APP_MODULES, require

HIDE = """
import importlib.abc, sys
HIDDEN = set(sys.argv[1].split(","))
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
for m in [m for m in sys.modules if m.split(".")[0] in HIDDEN]:
    del sys.modules[m]
from aquaembed.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _run(hidden: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDE, hidden, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_require_names_the_extra_and_what_is_missing() -> None:
    missing = {"fastapi", "PIL"}
    with pytest.raises(MissingExtraError) as err:
        require("app", what="aquaembed serve", find_spec=lambda m: None if m in missing else object())
    msg = str(err.value)
    assert "\n" not in msg and "aquaembed serve" in msg and "pip install 'aquaembed[app]'" in msg
    assert "fastapi" in msg and "pillow" in msg and "dash" not in msg.replace("aquaembed", "")
    assert err.value.parameter == "app"
    require("app", what="x", find_spec=lambda m: object())  # nothing missing: no error


def test_the_app_modules_are_installed_here() -> None:
    require("app", what="the test environment")  # make test installs the app extra
    assert set(APP_MODULES) >= {"faiss", "umap", "fastapi", "dash", "PIL"}


@pytest.mark.parametrize("command", [
    ["serve", "--data", "DATA"],
    ["demo", "--data", "DATA", "--no-serve"],
    ["ingest", "--data", "DATA", "--name", "x", "--gt", "gt.json"],
    ["similar", "--data", "DATA", "--name", "x", "--frame", "1"],
])
def test_app_commands_without_the_extra_print_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    args = [str(tmp_path / "data") if a == "DATA" else a for a in command]
    r = _run("fastapi,faiss,dash", *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aquaembed: error: ")
    assert f"aquaembed {command[0]} needs the 'app' extra" in lines[0]
    assert "pip install 'aquaembed[app]'" in lines[0] and "faiss-cpu" in lines[0]
    assert not (tmp_path / "data").exists()  # nothing written


def test_evaluate_runs_without_the_app(tmp_path: Path) -> None:
    from aquaembed.synthetic import write_coco

    gt, pred = write_coco(tmp_path, 5, n_classes=3, seed=1)
    hidden = ",".join(sorted(APP_MODULES))
    r = _run(hidden, "evaluate", "--gt", str(gt), "--pred", str(pred), "--map", "--json", str(tmp_path / "out.json"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.json").stat().st_size > 0 and "COCO bbox mAP" in r.stdout



PROBE = """
import sys
from aquaembed import cli
sys.argv = ["aquaembed", *sys.argv[2:]]
try:
    cli.run() if sys.argv_mode == "run" else sys.exit(cli.main(sys.argv[1:]))
except SystemExit:
    pass
import numba.np.arraymath
print("scipy.linalg" in sys.modules, numba.np.arraymath._HAVE_BLAS)
"""


@pytest.mark.parametrize(("mode", "expected"), [("run", "False False"), ("main", "True True")])
def test_only_the_evaluate_process_skips_numbas_blas_check(tmp_path: Path, mode: str, expected: str) -> None:
    """``aquaembed evaluate`` (the console script) never imports scipy.linalg; ``main()``
    called inside another program leaves numba's BLAS support as it is."""
    from aquaembed.synthetic import write_coco

    gt, pred = write_coco(tmp_path, 3, n_classes=2, seed=2)
    code = PROBE.replace("sys.argv_mode", repr(mode))
    r = subprocess.run(
        [sys.executable, "-c", code, "x", "evaluate", "--gt", str(gt), "--pred", str(pred), "--map"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert r.stdout.strip().splitlines()[-1] == expected, r.stderr
