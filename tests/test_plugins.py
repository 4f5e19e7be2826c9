"""Plugin discovery through entry points: listing, broken plugins, duplicate names, a real
third-party package installed with pip, run in a suite, then uninstalled."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import REPO
from fake_plugins import AGENTS_SOURCE, fake_distribution


def test_list_shows_builtin_plugins_with_package_and_spaces(cli):
    result = cli("list")
    assert result.returncode == 0, result.stderr
    assert "dqn" in result.stdout and "rl-harness" in result.stdout
    assert "discrete" in result.stdout


def test_broken_plugin_is_listed_with_its_error_and_others_still_work(cli, tmp_path):
    fake_distribution(tmp_path, "broken-algos", {"broken_one": "broken_module:algo", "random_agent": "faulty_algos:random_agent"},
                      {"broken_module": "raise ImportError('needs a package that is not installed: flux-capacitor')",
                       "faulty_algos": AGENTS_SOURCE})
    result = cli("list", env={"PYTHONPATH": str(tmp_path), "COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if "broken_one" in l)
    assert "BROKEN" in line and "flux-capacitor" in line
    assert any("random_agent" in l and "vector" in l for l in result.stdout.splitlines())
    assert any(l.split("│")[1].strip() == "dqn" and "BROKEN" not in l for l in result.stdout.splitlines() if "│" in l)


def test_two_plugins_with_one_name_name_both_packages(cli, tmp_path):
    fake_distribution(tmp_path, "impostor-algos", {"dqn": "faulty_algos:random_agent"}, {"faulty_algos": AGENTS_SOURCE})
    result = cli("run", "classic", "--algo", "dqn", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "impostor-algos" in result.stderr and "rl-harness" in result.stderr and "'dqn'" in result.stderr


def test_third_party_package_installs_lists_runs_in_a_suite_and_uninstalls(cli, tmp_path):
    pip = [sys.executable, "-m", "pip"]
    example = tmp_path / "third_party_plugin"  # a copy: building writes next to the sources
    shutil.copytree(REPO / "examples" / "third_party_plugin", example,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    install = subprocess.run([*pip, "install", "-q", "--no-deps", "--no-build-isolation", str(example)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    try:
        listing = cli("list", env={"COLUMNS": "250"})
        line = next(l for l in listing.stdout.splitlines() if "reinforce" in l)
        assert "harness-reinforce" in line and "0.2.0" in line and "BROKEN" not in line
        run = cli("run", "classic", "--algo", "reinforce", "--tasks", "CartPole-v1", "--budget", "3000",
                  "--results", str(tmp_path), "--study", "third_party", "--no-progress")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "done 1" in run.stdout
        manifests = list((tmp_path / "third_party").glob("*/manifest.json"))
        assert len(manifests) == 1 and "harness-reinforce" in manifests[0].read_text()
    finally:
        subprocess.run([*pip, "uninstall", "-q", "-y", "harness-reinforce"], capture_output=True, timeout=300)
    after = cli("list", env={"COLUMNS": "250"})
    assert "reinforce" not in after.stdout
