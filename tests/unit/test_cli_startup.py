"""The CLI starts without importing the heavy libraries that only some commands need.

Each check runs in a fresh interpreter: this test process has long since imported everything.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = frozenset(
    {"alembic", "duckdb", "pyarrow", "numpy", "sklearn", "splink", "pandas", "httpx", "typst", "uvicorn", "playwright"}
)
LOADED = f"sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r})"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_importing_the_cli_loads_no_heavy_library() -> None:
    result = _python(f"import epistola.cli, sys; print({LOADED})")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_epistola_help_exits_0_without_heavy_libraries() -> None:
    """`epistola --help`, run as `python -m epistola --help` is, then the modules it loaded."""
    result = _python(
        "import runpy, sys\n"
        "sys.argv = ['epistola', '--help']\n"
        "try:\n"
        "    runpy.run_module('epistola', run_name='__main__')\n"
        "finally:\n"
        f"    print({LOADED}, file=sys.stderr)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "[]"
