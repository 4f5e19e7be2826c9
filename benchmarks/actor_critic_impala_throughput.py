"""IMPALA's throughput with 0, 1, 2 and 4 actor processes: environment frames the learner consumes
per second (the harness's own environments plus the actors' trajectories), against 0 actors (a
V-trace learner on the harness's environments alone, i.e. A2C's speed) as the baseline.

    python benchmarks/actor_critic_impala_throughput.py [--env CartPole-v1] [--seconds 30] [--actors 0 1 2 4]

Each setting runs the harness's interaction loop (act → env step → observe) for a fixed wall time
after its actors have started; frames counted are those that reached a learner update.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from harness.plugin import EnvSpec, Transition
from harness.run import true_next_obs
from harness.suite import make_task


def measure(env_id: str, actors: int, seconds: float, num_envs: int, hyper: dict) -> dict[str, float]:
    import plugins.actor_critic as ac

    task = make_task(env_id, num_envs=num_envs)
    envs = task.env.make_vector(num_envs, 0, evaluation=False)
    spec = EnvSpec(task.id, envs.single_observation_space, envs.single_action_space, num_envs,
                   task.env.frames_per_step(), env=task.env)
    agent = ac.impala.make_agent(spec, ac.impala.resolve_config({**hyper, "num_actors": actors}), 0, None)
    obs, _ = envs.reset(seed=0)

    def step(obs):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = envs.step(action)
        done = terminated | truncated
        metrics = agent.observe(Transition(obs, action, reward, true_next_obs(next_obs, done, info), terminated, truncated))
        return next_obs, metrics

    try:
        if actors:  # wait until the actors run: start-up is not throughput
            while not agent.actor_frames:
                obs, _ = step(obs)
        frames0, actor0, updates0, lags = 0, agent.actor_frames, agent.updates, []
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            obs, metrics = step(obs)
            frames0 += num_envs
            if metrics and "policy_lag" in metrics:
                lags.append(metrics["policy_lag"])
        elapsed = time.perf_counter() - start
        harness_frames = frames0
        actor_frames = agent.actor_frames - actor0
        return {"actors": actors, "harness_fps": harness_frames / elapsed, "actor_fps": actor_frames / elapsed,
                "total_fps": (harness_frames + actor_frames) / elapsed,
                "updates_per_s": (agent.updates - updates0) / elapsed, "lag": sum(lags) / max(len(lags), 1)}
    finally:
        agent.close()
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--actors", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--envs-per-actor", type=int, default=8)
    parser.add_argument("--max-actor-trajectories", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    hyper = {"envs_per_actor": args.envs_per_actor, "max_actor_trajectories": args.max_actor_trajectories}
    load = os.getloadavg()[0]
    results = [measure(args.env, n, args.seconds, args.num_envs, hyper) for n in args.actors]
    base = results[0]["total_fps"]
    print(f"{args.env}, {args.seconds:.0f} s per setting, {os.cpu_count()} CPUs, 1-minute load average "
          f"{load:.2f} before and {os.getloadavg()[0]:.2f} after")
    print(f"{'actors':>6} {'harness fps':>12} {'actor fps':>10} {'total fps':>10} {'updates/s':>10} {'lag':>5} {'vs first':>9}")
    for r in results:
        print(f"{r['actors']:>6} {r['harness_fps']:>12.0f} {r['actor_fps']:>10.0f} {r['total_fps']:>10.0f} "
              f"{r['updates_per_s']:>10.1f} {r['lag']:>5.1f} {r['total_fps'] / base:>8.2f}x")


if __name__ == "__main__":
    main()
