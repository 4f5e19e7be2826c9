"""Published baselines loaded as if they were runs of a study: Dopamine's Atari training curves.

``dopamine:DQN,Rainbow`` selects agents of Dopamine's ``legacy`` variant; ``dopamine/Impala:DQN``
(or ``/CNN``) another variant. The data is a compact Parquet copy of Dopamine's published curves
(Apache-2.0) shipped in ``results/baselines/``. Iteration k maps to ``frames = k × 1M`` and
``env_steps = frames / 4``. Its protocol differs from ours and is stated wherever it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.load import RUN_COLUMNS, StudyData
from harness.analysis.references import atari57, game_key, human_reference
from harness.errors import UserError

DOPAMINE_PARQUET = Path(__file__).resolve().parents[2] / "results" / "baselines" / "dopamine_atari.parquet"
DOPAMINE_VARIANTS = ("legacy", "CNN", "Impala")
DOPAMINE_PROTOCOL = "dopamine-machado2018"
DOPAMINE_PROTOCOL_SETTINGS = {
    "source": "Dopamine published baselines (google/dopamine, Apache-2.0)",
    "sticky_actions": 0.25,
    "frameskip": 4,
    "frames_per_iteration": 1_000_000,
    "score": "mean return of the training episodes of each 1M-frame iteration (epsilon-greedy training policy),"
             " not separate evaluation episodes",
    "reference": "Machado et al. 2018 (machado2018) recommended ALE settings",
}
FRAMES_PER_ITERATION = 1_000_000
FRAMESKIP = 4
# Dopamine games outside Atari-57: their ALE names, for readable task names.
EXTRA_GAMES = {"airraid": "AirRaid", "carnival": "Carnival", "elevatoraction": "ElevatorAction",
               "journeyescape": "JourneyEscape", "pooyan": "Pooyan"}


@dataclass(frozen=True)
class BaselineSpec:
    source: str
    variant: str
    agents: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "BaselineSpec":
        """``dopamine[/variant]:AGENT[,AGENT...]`` (``*`` for every agent of the variant)."""
        head, _, agents = text.partition(":")
        source, _, variant = head.strip().partition("/")
        if source.lower() != "dopamine":
            raise UserError(f"baselines {text!r}: unknown source {source!r}; available: dopamine")
        variant = variant or "legacy"
        match = [v for v in DOPAMINE_VARIANTS if v.lower() == variant.lower()]
        if not match:
            raise UserError(f"baselines {text!r}: unknown Dopamine variant {variant!r}; "
                            f"available: {', '.join(DOPAMINE_VARIANTS)}")
        names = tuple(a.strip() for a in agents.split(",") if a.strip())
        if not names:
            raise UserError(f"baselines {text!r}: name the agents, e.g. dopamine:DQN,Rainbow")
        return cls("dopamine", match[0], names)

    def label(self, agent: str) -> str:
        """The algorithm name in tables and figures."""
        return f"{agent} (Dopamine)" if self.variant == "legacy" else f"{agent} (Dopamine {self.variant})"


def task_name(key: str) -> str:
    """Our task name for a Dopamine game: its ALE name (``Pong``, ``BattleZone``)."""
    game = atari57().get(key)
    return game.ale_name if game else EXTRA_GAMES.get(key, key)


def load_dopamine(spec: BaselineSpec, path: Path = DOPAMINE_PARQUET) -> StudyData:
    """The selected agents' curves as study data (every run ``done``; protocol ``dopamine-machado2018``)."""
    if not path.exists():
        raise UserError(f"Dopamine baselines not found at {path} (shipped in the project's results/baselines/)")
    data = pd.read_parquet(path, filters=[("variant", "==", spec.variant)])
    available = sorted(map(str, data["agent"].unique()))
    by_lower = {a.lower(): a for a in available}
    agents = []
    for agent in (available if spec.agents == ("*",) else spec.agents):
        if agent.lower() not in by_lower:
            raise UserError(f"baselines: Dopamine {spec.variant} has no agent {agent!r}; "
                            f"available: {', '.join(available)}")
        agents.append(by_lower[agent.lower()])
    data = data[data["agent"].astype(str).isin(agents)]
    keys = data["game"].astype(str)
    labels = {a: spec.label(a) for a in agents}
    algorithm = data["agent"].astype(str).map(labels)
    task = keys.map({k: task_name(k) for k in keys.unique()})
    seed = data["run"].astype(np.int64)
    run_id = "dopamine/" + spec.variant + "/" + data["agent"].astype(str) + "/" + keys + "/" + seed.astype(str)
    frames = data["iteration"].astype(np.int64) * FRAMES_PER_ITERATION
    metrics = pd.DataFrame({
        "study": "dopamine", "algorithm": algorithm.to_numpy(), "task": task.to_numpy(), "seed": seed.to_numpy(),
        "run_id": run_id.to_numpy(), "env_steps": (frames // FRAMESKIP).to_numpy(), "frames": frames.to_numpy(),
        "return_mean": data["value"].to_numpy(dtype=float), "protocol": DOPAMINE_PROTOCOL, "state": "done"})
    metrics = metrics.sort_values(["run_id", "env_steps"], kind="stable").reset_index(drop=True)
    runs = metrics.groupby("run_id", sort=False)[["algorithm", "task", "seed"]].first().reset_index()
    refs = {t: human_reference(t) for t in runs["task"].unique()}
    runs = runs.assign(study="dopamine", state="done", protocol=DOPAMINE_PROTOCOL, family="atari",
                       env=runs["task"], budget=None, source="baseline",
                       ref_low=runs["task"].map(lambda t: refs[t].low if refs[t] else None),
                       ref_high=runs["task"].map(lambda t: refs[t].high if refs[t] else None),
                       ref_kind=runs["task"].map(lambda t: refs[t].kind if refs[t] else None),
                       ref_source=runs["task"].map(lambda t: refs[t].source if refs[t] else None))
    return StudyData(metrics, runs[list(RUN_COLUMNS)], {DOPAMINE_PROTOCOL: DOPAMINE_PROTOCOL_SETTINGS})


def load_baselines(specs: list[str]) -> StudyData:
    return StudyData.concat([load_dopamine(BaselineSpec.parse(s)) for s in specs])


def align_to_study(baselines: StudyData, study: StudyData) -> StudyData:
    """Rename baseline games to the study's task ids (``Pong`` → ``ALE/Pong-v5``); keep only shared games."""
    study_tasks = {game_key(t): t for t in study.runs["task"].unique()}
    keep = baselines.runs["task"].map(game_key).isin(study_tasks)
    if not keep.any():
        raise UserError(f"baselines: none of the study's tasks ({', '.join(sorted(study_tasks.values()))}) "
                        f"is a game in the selected baselines")
    rename = {t: study_tasks[game_key(t)] for t in baselines.runs.loc[keep, "task"].unique()}
    runs = baselines.runs[keep].assign(task=lambda r: r["task"].map(rename), env=lambda r: r["task"])
    metrics = baselines.metrics[baselines.metrics["task"].isin(rename)]
    metrics = metrics.assign(task=metrics["task"].map(rename))
    return StudyData(metrics.reset_index(drop=True), runs.reset_index(drop=True), baselines.protocols,
                     baselines.notes)
