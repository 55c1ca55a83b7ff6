"""Run the benchmarks: `python benchmarks/run.py [AREA]` (what `make bench [B=AREA]` calls).

Each `bench_<area>*.py` is a script that prints whatever it likes and one line per figure:
``BENCH <name> <value> <unit>``. The runner streams their output and appends the figures, with the date,
the commit and the machine, to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {cpu}, Python {platform.python_version()}"


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=HERE
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str]) -> int:
    area = argv[1] if len(argv) > 1 else None
    scripts = sorted(HERE.glob(f"bench_{area}*.py" if area else "bench_*.py"))
    if not scripts:
        known = sorted({p.stem.removeprefix("bench_").split("_")[0] for p in HERE.glob("bench_*.py")})
        print(f"no benchmark for area {area!r}; areas: {', '.join(known)}", file=sys.stderr)
        return 2
    figures: list[tuple[str, str]] = []
    failed = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith("BENCH "):
                figures.append((script.name, line.strip()))
        if proc.wait() != 0:
            failed += 1
            print(f"!! {script.name} exited with {proc.returncode}", file=sys.stderr)
    if figures:
        results = HERE / "RESULTS.md"
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with results.open("a", encoding="utf-8") as fh:
            fh.write(f"\n### {stamp} · commit {commit()} · {machine()}\n\n")
            fh.write("| script | figure |\n|---|---|\n")
            for script, line in figures:
                fh.write(f"| `{script}` | `{line}` |\n")
        print(f"\nappended {len(figures)} figure(s) to {results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
