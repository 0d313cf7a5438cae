"""Start-up benchmark: `emobalance predict "I miss her so much"` on a fresh virtualenv.

Builds the wheel of this checkout's HEAD (from a clone), installs it into a new virtualenv
(torch first, from the exact spec this machine serves locally, then the wheel and its
dependencies from the package index), and times the command as a new user runs it: no
``EMOBALANCE_DATA``, an empty ``EMOBALANCE_CACHE`` and ``HOME``, no model argument. Prints
one JSON line: ``wheel_mb``, ``install_seconds``, ``first_seconds`` (the first run after the
install), ``warm_seconds`` (every later run) and their median, the command's output, and the
machine.

    python benchmarks/startup.py                 # a new venv in a temporary folder
    python benchmarks/startup.py --runs 10 --keep /tmp/startup-venv
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine

ROOT = Path(__file__).resolve().parent.parent
TEXT = "I miss her so much"
TORCH_SPEC = "torch==2.13.0"  # the CPU build this machine serves from local disk


def sh(*cmd: str | Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs after the first")
    ap.add_argument("--keep", type=Path, help="build the venv here and keep it")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="emobalance-startup-"))
    venv = args.keep or work / "venv"
    # from a clone of HEAD: a build/ folder left in the checkout could carry stale modules
    sh("git", "clone", "-q", ROOT, work / "src")
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", work / "src")
    wheel = next((work / "dist").glob("emobalance-*.whl"))
    t0 = time.perf_counter()
    sh(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    sh(pip, "install", "-q", TORCH_SPEC)
    sh(pip, "install", "-q", wheel)
    install_s = time.perf_counter() - t0

    home = work / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOBALANCE_")}
    env.update(HOME=str(home), EMOBALANCE_CACHE=str(home / "cache"))
    cmd = [str(venv / "bin" / "emobalance"), "predict", TEXT]

    def timed() -> tuple[float, str]:
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, cwd=home, check=True, capture_output=True, text=True)
        return time.perf_counter() - t, out.stdout.strip()

    first, output = timed()
    warm = [timed()[0] for _ in range(args.runs)]
    emit(
        {
            "benchmark": "startup",
            "command": f'emobalance predict "{TEXT}"',
            "wheel": wheel.name,
            "wheel_mb": round(wheel.stat().st_size / 1e6, 2),
            "install_seconds": round(install_s, 1),
            "first_seconds": round(first, 3),
            "warm_seconds": [round(w, 3) for w in warm],
            "warm_median_seconds": round(statistics.median(warm), 3),
            "output": output,
            "cache_written": (home / "cache").exists(),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
