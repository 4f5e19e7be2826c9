"""rl-harness: a plugin-based benchmarking and research harness for deep reinforcement learning."""

__version__ = "0.1.0"
