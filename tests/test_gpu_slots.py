"""GPU packing in both backends, with a simulated device list here and for real where CUDA exists.

Runs are given GPUs by free slots, K per GPU (local: CUDA_VISIBLE_DEVICES per slot; Ray: fractional
``num_gpus = 1/K`` on a cluster declaring two GPUs). Each run checks that it landed on the device it
was given: on a machine without CUDA, every GPU run fails with an error naming its assigned device;
with CUDA, every run lands on it and four share one GPU with ``--runs-per-gpu 4``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import torch

from fake_plugins import AGENTS_SOURCE, fake_distribution
from harness.scheduler.common import make_slots
from harness.scheduler.ray import RunRequest, execute_run_fresh
from test_ray import harness, ray_head

SUITE = """
[suite]
name = "gpus"
[defaults]
budget = 400
checkpoint_every = 200
eval = { every = 400, episodes = 2, num_envs = 2 }
[[tasks]]
id = "CartPole-v1"
"""


def test_slots_interleave_gpus_k_per_gpu():
    slots = make_slots(["0", "1"], runs_per_gpu=2, workers=4)
    assert [s.gpu for s in slots] == ["0", "1", "0", "1"]
    assert [s.gpu for s in make_slots(["3"], runs_per_gpu=4, workers=8)] == ["3"] * 4  # K per GPU caps workers
    assert [s.gpu for s in make_slots([], 1, 3)] == [None, None, None]
    assert RunRequest.of(1, ["0", "1"], 4).options() == {"num_cpus": 1.0, "num_gpus": 0.25}
    assert RunRequest.of(1, ["0", "1"], 4).task is execute_run_fresh  # CUDA memory freed after each run
    assert RunRequest.of(2, [], 4).options() == {"num_cpus": 2.0, "num_gpus": 0.0}


def placements(results: Path) -> Counter:
    """How many runs each assigned device got (from the run's own error or manifest)."""
    devices: Counter = Counter()
    for status_path in results.glob("gpus/*/status.json"):
        status = json.loads(status_path.read_text())
        if status["state"] == "done":
            manifest = json.loads((status_path.parent / "manifest.json").read_text())
            assert manifest["device"].startswith("cuda")
            devices[manifest["cuda_visible_devices"]] += 1
        else:
            found = re.search(r"CUDA_VISIBLE_DEVICES=(\S+)\) but landed on cpu", status["error"])
            assert found, status["error"]
            devices[found.group(1)] += 1
    return devices


def run_packed(tmp_path: Path, *backend: str, gpus: str, per_gpu: int) -> Counter:
    plugins = fake_distribution(tmp_path / "site", "gpu-algos", {"random_agent": "gpu_algos:random_agent"},
                                {"gpu_algos": AGENTS_SOURCE})
    suite = tmp_path / "gpus.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    result = harness("run", str(suite), "--algo", "random_agent", "--seeds", "4", "--workers", "4", "--gpus", gpus,
                     "--runs-per-gpu", str(per_gpu), "--results", str(results), "--no-progress", *backend,
                     env={"PYTHONPATH": str(plugins)})
    cuda = torch.cuda.is_available()
    assert result.returncode == (0 if cuda else 1), result.stdout + result.stderr
    assert ("done 4" if cuda else "failed 4") in result.stdout
    return placements(results)


def test_local_backend_packs_and_checks_devices(tmp_path):
    if torch.cuda.is_available():  # for real: four runs on one GPU, all on CUDA
        assert run_packed(tmp_path, gpus="0", per_gpu=4) == Counter({"0": 4})
    else:  # two simulated GPUs, two runs each; none may silently fall back to the CPU
        assert run_packed(tmp_path, gpus="0,1", per_gpu=2) == Counter({"0": 2, "1": 2})


def test_ray_backend_packs_fractional_gpus_and_checks_devices(tmp_path):
    real = torch.cuda.device_count()
    with ray_head(num_cpus=4, num_gpus=real or 2) as address:
        backend = ("--backend", "ray", "--address", address)
        if real:
            assert run_packed(tmp_path, *backend, gpus="0", per_gpu=4) == Counter({"0": 4})
        else:  # Ray's fractional requests: 0.5 GPU each packs two runs on each of the two declared GPUs
            assert run_packed(tmp_path, *backend, gpus="0,1", per_gpu=2) == Counter({"0": 2, "1": 2})
