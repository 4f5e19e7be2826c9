"""Value-family throughput against a plain CleanRL-style DQN (benchmarks/plain_dqn.py), in one run.

1. CartPole DQN, one environment: the harness (``harness.run.train``, evaluation time excluded)
   against the plain loop, with CleanRL ``dqn.py``'s settings on both sides (``plain_dqn.Args``).
2. The same with the harness's vectorized setting (``--num-envs``, default 8) at the same replay
   ratio (one update of 128 per 10 environment steps, whatever the number of environments).
3. Where the time goes: the update alone (the same arithmetic on both sides; the harness's is fused
   in numpy for MLPs on the CPU, plugins/value/numpy_learner.py), each timed on its own.
4. Rainbow's per-update cost against DQN's, each timed on ``learn()`` with a filled buffer.

Every configuration runs ``--seeds`` seeds, interleaved so that load from other processes hits all
sides alike. Speeds (per wall-clock second, and per CPU-second, which other processes' load disturbs
far less) are medians of per-seed ratios; final evaluation returns (10 episodes per seed)
are means over seeds with 95% percentile-bootstrap CIs.

    python benchmarks/dqn_throughput.py [--steps 100000] [--seeds 5] [--num-envs 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# one thread in every pool, as `harness run` gives its workers: numpy's OpenBLAS would otherwise start
# a spinning thread per core when numpy loads, and the harness's numpy update would pay for it
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: plain_dqn.py sits beside it
from plain_dqn import Args, QNetwork, ReplayBuffer, evaluate, harness_hyper, train as plain_train  # noqa: E402

from harness.analysis.stats import mean_ci  # noqa: E402
from harness.plugin import EnvSpec, Transition, get_algorithm  # noqa: E402
from harness.run import train  # noqa: E402
from harness.suite import make_task  # noqa: E402
from harness.threads import flushing_denormals  # noqa: E402


def harness_run(args: Args, num_envs: int, root: Path) -> tuple[float, float, float]:
    """Training steps/s (evaluation excluded), steps per CPU-second (the whole call: setup and the one
    final evaluation add ~1%) and final evaluation return (10 episodes)."""
    steps = args.total_timesteps
    task = make_task(args.env_id, budget=steps, num_envs=num_envs, checkpoint_every=steps,
                     eval={"every": steps, "episodes": 10, "num_envs": 5}, hyper={"dqn": harness_hyper(args)})
    cpu = time.process_time()
    result = train("dqn", task, seed=args.seed, root=root, study=f"throughput-{time.monotonic_ns()}")
    cpu_sps = steps / (time.process_time() - cpu)
    return steps / float(result.metrics["wall_time"].iloc[-1]), cpu_sps, result.final_return


def filled_agent(algo: str, env_id: str, hyper: dict, seed: int = 0):
    """An agent whose replay holds 5,000 transitions of random play, learning switched off."""
    algorithm = get_algorithm(algo)
    config = algorithm.resolve_config({**hyper, "learning_starts": 10**9})
    envs = make_task(env_id).env.make_vector(1, seed)
    agent = algorithm.make_agent(EnvSpec(env_id, envs.single_observation_space, envs.single_action_space, 1),
                                 config, seed, None)
    obs, _ = envs.reset(seed=seed)
    for _ in range(5_000):
        action = envs.action_space.sample()
        next_obs, reward, terminated, truncated, info = envs.step(action)
        real = np.stack([info["final_obs"][0]]) if terminated[0] or truncated[0] else next_obs
        agent.observe(Transition(obs, action, reward, real, terminated, truncated))
        obs = next_obs
    envs.close()
    return agent


def per_call_ms(fn, calls: int, clock=time.perf_counter) -> float:
    for _ in range(20):
        fn()
    start = clock()
    for _ in range(calls):
        fn()
    return 1000 * (clock() - start) / calls


def cpu_ms(fn, calls: int) -> float:
    """CPU milliseconds per call: less sensitive than wall time to other processes' load."""
    return per_call_ms(fn, calls, time.process_time)


def plain_update_ms(args: Args, calls: int) -> float:
    """The plain loop's update (sample, target, loss, backward, Adam) on a filled buffer."""
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(args.env_id)])
    q_network, target_network = QNetwork(envs), QNetwork(envs)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    rb = ReplayBuffer(args.buffer_size, envs.single_observation_space.shape, 1, torch.device("cpu"))
    for _ in range(5_000):
        rb.add(np.random.randn(1, 4), np.random.randn(1, 4), np.random.randint(2, size=1), np.ones(1), np.zeros(1))

    def update() -> None:
        observations, actions, next_observations, dones, rewards = rb.sample(args.batch_size)
        with torch.no_grad():
            target_max, _ = target_network(next_observations).max(dim=1)
            td_target = rewards.flatten() + args.gamma * target_max * (1 - dones.flatten())
        loss = F.mse_loss(td_target, q_network(observations).gather(1, actions).squeeze())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return per_call_ms(update, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--updates", type=int, default=1_000)
    parser.add_argument("--rainbow-only", action="store_true", help="only Rainbow's per-update cost against DQN's")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.rainbow_only:
        rainbow_vs_dqn(args.updates)
        return
    vec = f"harness, {args.num_envs} envs"
    sps: dict[str, list[float]] = {"plain": [], "harness, 1 env": [], vec: []}
    cpu_sps: dict[str, list[float]] = {name: [] for name in sps}
    returns: dict[str, list[float]] = {name: [] for name in sps}
    with tempfile.TemporaryDirectory() as root:
        for seed in range(1, args.seeds + 1):
            run_args = Args(total_timesteps=args.steps, seed=seed)
            q_network, plain_sps, plain_cpu_sps = plain_train(run_args)
            sps["plain"].append(plain_sps)
            cpu_sps["plain"].append(plain_cpu_sps)
            returns["plain"].append(evaluate(q_network, run_args.env_id, 10, 10_000 + seed, torch.device("cpu")))
            for name, num_envs in (("harness, 1 env", 1), (vec, args.num_envs)):
                rate, cpu_rate, final = harness_run(run_args, num_envs, Path(root))
                sps[name].append(rate)
                cpu_sps[name].append(cpu_rate)
                returns[name].append(final)
            print(f"seed {seed}: " + ", ".join(f"{name} {values[-1]:,.0f} steps/s" for name, values in sps.items()),
                  flush=True)

    med = statistics.median
    rng = np.random.default_rng(0)
    print(f"\nCartPole-v1 DQN (CleanRL dqn.py settings), {args.steps:,} steps x {args.seeds} seeds")
    print(f"{'':22} {'steps/s (median)':>17} {'vs plain':>9} {'steps/CPU-s':>12} {'vs plain':>9}   "
          f"final eval return, mean [95% CI]")
    for name, values in sps.items():
        ratio = med([v / p for v, p in zip(values, sps["plain"])])
        cpu_ratio = med([v / p for v, p in zip(cpu_sps[name], cpu_sps["plain"])])
        estimate = mean_ci(returns[name], 2_000, rng)
        print(f"{name:22} {med(values):>17,.0f} {ratio:>8.2f}x {med(cpu_sps[name]):>12,.0f} {cpu_ratio:>8.2f}x   "
              f"{estimate.value:6.1f} "
              f"[{estimate.low:.1f}, {estimate.high:.1f}]  ({', '.join(f'{r:.0f}' for r in returns[name])})")
    print("targets: >= 1.5x with 1 env, >= 4x vectorized")

    base = Args(total_timesteps=args.steps)
    update_ms = plain_update_ms(base, args.updates)
    with flushing_denormals():  # as in a run (harness/threads.py); the plain loop keeps torch's default
        harness_update_ms = cpu_ms(filled_agent("dqn", base.env_id, harness_hyper(base)).learn, args.updates)
    learning_share = (args.steps - base.learning_starts) / args.steps
    plain_time_per_step = 1 / med(sps["plain"])
    update_share = learning_share * update_ms / 1000 / base.train_frequency / plain_time_per_step
    print(f"\nthe update alone (batch {base.batch_size}, every {base.train_frequency} steps): plain loop "
          f"{update_ms:.3f} ms = {100 * update_share:.0f}% of its time; harness {harness_update_ms:.3f} ms "
          f"({update_ms / harness_update_ms:.2f}x less)")
    rainbow_vs_dqn(args.updates)


def rainbow_vs_dqn(updates: int) -> None:
    """Per-update CPU and wall time of Rainbow against DQN with the same torso and preset, interleaved,
    with subnormals flushed as in a run."""
    with flushing_denormals():
        _rainbow_vs_dqn(updates)


def _rainbow_vs_dqn(updates: int) -> None:
    med = statistics.median
    for env_id, hyper, calls in (("CartPole-v1", {"preset": "classic"}, updates),
                                 ("MinAtar/Breakout-v1", {"preset": "minatar"}, updates // 4),
                                 ("ALE/Breakout-v5", {"preset": "nature", "buffer_size": 20_000}, updates // 40)):
        preset = hyper["preset"]
        dqn_agent = filled_agent("dqn", env_id, hyper)
        rainbow_agent = filled_agent("rainbow", env_id, hyper)
        dqn_ms, rainbow_ms, dqn_wall, rainbow_wall = [], [], [], []
        for _ in range(3):  # interleaved
            dqn_ms.append(cpu_ms(dqn_agent.learn, calls))
            rainbow_ms.append(cpu_ms(rainbow_agent.learn, calls))
            dqn_wall.append(per_call_ms(dqn_agent.learn, calls))
            rainbow_wall.append(per_call_ms(rainbow_agent.learn, calls))
        replay, cfg = rainbow_agent.replay, rainbow_agent.cfg
        batch = replay.sample(cfg.batch_size, rainbow_agent.np_rng, cfg.gamma, 0.5)
        replay_ms = cpu_ms(lambda: replay.sample(cfg.batch_size, rainbow_agent.np_rng, cfg.gamma, 0.5), calls)
        replay_ms += cpu_ms(lambda: replay.update_priorities(batch.index, np.abs(batch.reward) + 0.1), calls)
        print(f"per update, CPU time ({env_id}, {preset} preset, batch {cfg.batch_size}): dqn {med(dqn_ms):.3f} ms, "
              f"rainbow {med(rainbow_ms):.3f} ms, rainbow / dqn = "
              f"{med([r / d for r, d in zip(rainbow_ms, dqn_ms)]):.2f}x (target <= 2x); wall: dqn {med(dqn_wall):.3f} ms, "
              f"rainbow {med(rainbow_wall):.3f} ms, {med([r / d for r, d in zip(rainbow_wall, dqn_wall)]):.2f}x; "
              f"prioritized n-step replay "
              f"(sample + priority update) {replay_ms:.3f} ms = {100 * replay_ms / med(rainbow_ms):.0f}% of rainbow's update")


if __name__ == "__main__":
    main()
