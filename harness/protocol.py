"""The evaluation protocol of a task and its fingerprint.

Two scores compare only if they were produced under the same protocol (for Atari: sticky actions,
no-op starts, frame cap, life-loss handling, action set, reward clipping, evaluation ε...). The
fingerprint is a short stable hash of every such setting; runs record it, and analysis refuses to
aggregate different fingerprints together unless asked to.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.suite import Task


def protocol_of(task: Task) -> dict[str, Any]:
    """Every setting that changes what a task's evaluation score means."""
    return {
        "env": task.env.protocol(),
        "evaluation": {"episodes": task.eval.episodes, "epsilon": task.eval.epsilon},
    }


def fingerprint(protocol: dict[str, Any]) -> str:
    """A 16-hex-digit hash, stable across processes, Python versions and key order."""
    canonical = json.dumps(protocol, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
