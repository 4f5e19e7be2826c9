"""Shared test set-up: one torch thread per process (2-core machines), headless rendering."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGLET_HEADLESS", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # test clusters are local; see harness/scheduler/ray.py

import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent


def harness_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real `harness` command line in a subprocess (as a user would)."""
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture
def cli():
    return harness_cli


def pytest_collection_modifyitems(items):
    """Learning tests first (a stable sort), longest first: the 9-minute maze test, collected near the
    end, otherwise starts late and becomes the suite's tail. The Makefile's ``--dist worksteal`` lets an
    idle xdist worker take queued tests from a busy one, so the short tests fill in behind them."""
    longest = "test_maze_learning.py"
    items.sort(key=lambda item: (item.get_closest_marker("learning") is None, item.path.name != longest))
