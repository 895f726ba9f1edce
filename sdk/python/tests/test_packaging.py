"""thoth-sdk installs like a real package: `python -m build` makes a wheel, a clean venv installs it without an
index, and the README quickstart runs from that venv against the real server (one ALLOW, one BLOCK).

The build runs on a copy of sdk/python in a temporary directory, so it never writes build/ or *.egg-info into
the checkout. Nothing here skips: a missing `build` module or a venv without pip fails the test with the fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import SDK_DIR, ThothServer

import thoth


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, f"{' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}"
    return completed


def clean_env(**extra: str) -> dict[str, str]:
    """Without PYTHON* variables (a PYTHONPATH to sdk/python/src would hide a broken wheel) or an active venv."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, **extra}


def test_wheel_installs_in_a_clean_venv_and_runs_the_quickstart(thoth_server: ThothServer, tmp_path: Path) -> None:
    has_build = subprocess.run([sys.executable, "-c", "import build"], capture_output=True).returncode == 0
    assert has_build, f"the `build` module is missing: {sys.executable} -m pip install build"

    source = tmp_path / "thoth-sdk"
    shutil.copytree(
        SDK_DIR,
        source,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".venv"),
    )
    # Isolated build (the standard one): setuptools>=77 from pyproject.toml's build-system is fetched by pip.
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(source)], env=clean_env())
    wheels = list((tmp_path / "dist").glob("thoth_sdk-*-py3-none-any.whl"))
    assert len(wheels) == 1, wheels
    wheel = wheels[0]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "thoth/__init__.py" in names and "thoth/py.typed" in names, names
    assert not [name for name in names if name.startswith(("tests/", "examples/"))], names

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], env=clean_env())
    python = venv / "bin" / "python"
    assert python.exists(), f"venv has no bin/python: {sorted(p.name for p in (venv / 'bin').iterdir())}"
    # No index: the SDK has no dependencies (standard library only).
    run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--disable-pip-version-check", str(wheel)],
        env=clean_env(),
    )

    # The README quickstart, run from a directory without the sources, in isolated mode (-I: no PYTHONPATH,
    # no user site, the script's directory not on sys.path).
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(SDK_DIR / "examples" / "quickstart.py", app / "quickstart.py")
    where = run(
        [
            str(python),
            "-I",
            "-c",
            "import thoth, importlib.metadata as m; print(thoth.__file__); print(m.version('thoth-sdk'))",
        ],
        cwd=app,
        env=clean_env(),
    )
    location, version = where.stdout.split()
    assert Path(location).resolve().is_relative_to(venv.resolve()), location
    assert "site-packages" in location, location
    assert version == thoth.__version__, (version, thoth.__version__)

    completed = run(
        [str(python), "-I", str(app / "quickstart.py")],
        cwd=app,
        env=clean_env(THOTH_API_URL=thoth_server.url, THOTH_API_KEY=thoth_server.key),
    )
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 3, completed.stdout
    assert lines[0] == "Found 3 docs matching: quarterly report"  # ALLOW: the tool ran
    assert lines[1].startswith("Blocked: ") and "submit_payment" in lines[1] and "approved scope" in lines[1]
    assert lines[2].startswith("Violation ID: ") and lines[2] != "Violation ID: None"
