"""Bad suite files and flags: a one-line error naming the file, the field and what is allowed,
exit status 2, no traceback, and nothing run."""

from __future__ import annotations

import textwrap

import pytest

GOOD_TASK = 'id = "CartPole-v1"\nbudget = 1000\n'

CASES = {
    "unknown top-level key": ("[suit]\nname = 'x'\n[[tasks]]\n" + GOOD_TASK, "dqn",
                              ["suit: unknown key", "allowed: suite, defaults, tasks"]),
    "unknown task key": ("[[tasks]]\n" + GOOD_TASK + "budjet = 5\n", "dqn",
                         ["tasks[0].budjet: unknown key", "allowed: id, env, reference, budget"]),
    "wrong type": ('[[tasks]]\nid = "CartPole-v1"\nbudget = "many"\n', "dqn",
                   ["tasks[0].budget: must be a positive integer", "'many'"]),
    "negative budget": ('[[tasks]]\nid = "CartPole-v1"\nbudget = -3\n', "dqn",
                        ["tasks[0].budget: must be a positive integer"]),
    "unknown eval key": ("[defaults]\neval = { evry = 100 }\n[[tasks]]\n" + GOOD_TASK, "dqn",
                         ["defaults.eval.evry: unknown key", "allowed: every, episodes, epsilon"]),
    "stop_return not a number": ("[[tasks]]\n" + GOOD_TASK + 'eval = { stop_return = "high" }\n', "dqn",
                                 ["tasks[0].eval.stop_return: must be a number", "'high'"]),
    "unknown environment": ('[[tasks]]\nid = "CartPol-v1"\n', "dqn",
                            ["tasks[0].env: unknown gymnasium environment 'CartPol-v1'", "did you mean CartPole-v1"]),
    "unknown family": ("[[tasks]]\n" + GOOD_TASK + 'family = "atarii"\n', "dqn",
                       ["tasks[0].family: unknown family 'atarii'", "allowed: gym, atari"]),
    "reference without high": ("[[tasks]]\n" + GOOD_TASK + "reference = { low = 1.0 }\n", "dqn",
                               ["tasks[0].reference: needs both low and high"]),
    "invalid TOML": ("[[tasks]\nid = 1\n", "dqn", ["not valid TOML"]),
    "unknown algorithm": ("[[tasks]]\n" + GOOD_TASK, "dqnn", ["unknown algorithm 'dqnn'", "installed:", "dqn"]),
    "unsupported action space": ('[[tasks]]\nid = "Pendulum-v1"\nbudget = 1000\n', "dqn",
                                 ["tasks 'Pendulum-v1'", "supports discrete actions", "continuous actions"]),
    "unknown hyperparameter": ("[[tasks]]\n" + GOOD_TASK + "hyper.dqn = { lrr = 0.1 }\n", "dqn",
                               ["unknown hyperparameter 'lrr' for algorithm 'dqn'", "allowed:", "lr"]),
    "hyperparameter of the wrong type": ("[[tasks]]\n" + GOOD_TASK + 'hyper.dqn = { lr = "fast" }\n', "dqn",
                                         ["hyperparameter 'lr' of 'dqn' must be a number", "'fast'"]),
    "unknown preset": ("[[tasks]]\n" + GOOD_TASK + 'hyper.dqn = { preset = "turbo" }\n', "dqn",
                       ["preset 'turbo' is not defined by algorithm 'dqn'", "allowed:", "classic"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_suite_gives_one_line_error_and_exit_2(case, cli, tmp_path):
    text, algo, expected = CASES[case]
    suite = tmp_path / "bad_suite.toml"
    suite.write_text(textwrap.dedent(text))
    result = cli("run", str(suite), "--algo", algo, "--results", str(tmp_path / "results"), "--no-progress")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    message = " ".join(result.stderr.split())
    if case != "unknown algorithm":
        assert str(suite) in message
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("metrics.parquet"))


def test_unknown_suite_name_lists_shipped_suites(cli):
    result = cli("run", "no_such_suite", "--algo", "dqn")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "suite 'no_such_suite' not found" in result.stderr and "classic" in result.stderr


def test_bad_flags_are_user_errors(cli, tmp_path):
    result = cli("run", "classic", "--algo", "dqn", "--set", "nonsense", "--results", str(tmp_path))
    assert result.returncode == 2 and "expected KEY=VALUE" in result.stderr
    result = cli("run", "classic", "--algo", "dqn", "--backend", "slurm", "--results", str(tmp_path))
    assert result.returncode == 2 and "allowed: local, ray" in result.stderr
