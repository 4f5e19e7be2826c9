"""Command line: ``harness maze references`` / ``harness maze picture`` (``maze_app``) and ``harness play``.

Heavy imports (numba kernels, pygame, matplotlib) happen inside the commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

maze_app = typer.Typer(help="Labyrinth-like 3D mazes: reference scores and pictures.", no_args_is_help=True)


@maze_app.command("references")
def references_command(
    level: Optional[list[str]] = typer.Option(None, "--level", "-l", help="Level(s) to compute (default: all)."),
    episodes: int = typer.Option(10, help="Episodes per level and policy."),
    seed: int = typer.Option(0, help="Seed of episode 0 (episode i uses [seed, i])."),
    write: bool = typer.Option(False, "--write",
                               help="Write the shipped JSON and the reference lines of every suite declaring the levels."),
) -> None:
    """Recompute random and oracle reference scores per level and print them (optionally ship them)."""
    from rich.console import Console
    from rich.table import Table

    from harness.envs.maze.references import (REFERENCES_PATH, SUITES_DIR, compute_references, update_suites,
                                              write_references)
    from harness.envs.maze.tasks import TASKS

    unknown = [name for name in level or [] if name not in TASKS]
    if unknown:
        raise typer.BadParameter(f"unknown level(s) {', '.join(unknown)}; levels: {', '.join(TASKS)}")
    console = Console()
    data = compute_references(level or None, episodes, seed, progress=lambda msg: console.log(msg))
    table = Table("level", "random", "oracle", title=f"maze references ({episodes} episodes, seed {seed})")
    for name, entry in data["levels"].items():
        table.add_row(name, f"{entry['random']:.2f}", f"{entry['oracle']:.2f}")
    console.print(table)
    if write:
        if level:
            shipped = json.loads(REFERENCES_PATH.read_text()) if REFERENCES_PATH.exists() else {"levels": {}}
            if (shipped.get("episodes"), shipped.get("seed")) not in ((None, None), (episodes, seed)):
                raise typer.BadParameter("--write with --level must use the shipped file's --episodes and --seed")
            data["levels"] = {**shipped["levels"], **data["levels"]}
        write_references(data)
        updated = update_suites(data) if SUITES_DIR.is_dir() else {}
        lines = ", ".join(f"{len(levels)} in {path.name}" for path, levels in updated.items()) or "none"
        console.print(f"wrote {REFERENCES_PATH}; suite reference lines updated: {lines}")


@maze_app.command("picture")
def picture_command(
    output: Path = typer.Option(Path("docs/images/maze_levels.png"), help="PNG to write."),
    seed: int = typer.Option(0, help="Seed of the episodes shown."),
) -> None:
    """Render first-person frames and the map of every level into one picture."""
    from harness.envs.maze.view import level_grid

    typer.echo(str(level_grid(output, seed=seed)))


KEYS_HELP = "arrows or WASD: move (left/right turn, A/D strafe), Escape: quit"


def action_for_keys(forward: bool, backward: bool, left: bool, right: bool, strafe_left: bool,
                    strafe_right: bool) -> int:
    """The DMLab action for held keys; NOOP (outside the agent's action set) when none is held."""
    from harness.envs.maze.env import ACTION_NAMES, NOOP

    if forward and left != right:
        name = "forward_look_left" if left else "forward_look_right"
    elif forward:
        name = "forward"
    elif left != right:
        name = "look_left" if left else "look_right"
    elif strafe_left != strafe_right:
        name = "strafe_left" if strafe_left else "strafe_right"
    elif backward:
        name = "backward"
    else:
        return NOOP
    return ACTION_NAMES.index(name)


def play_command(level: str, seed: int = 0, scale: int = 6, fps: int = 15, show_map: bool = False,
                 output: Path = Path("maze_human_scores.jsonl"), player: str = "anonymous",
                 max_steps: Optional[int] = None) -> float:
    """Play LEVEL with the keyboard in a pygame window; append the episode's score to ``output`` (JSON lines).

    ``fps`` agent steps per second (15 = DMLab's 60 frames/s with frame skip 4). The episode has the
    level's length; Escape or closing the window ends it early (recorded as incomplete).
    """
    import numpy as np
    import pygame

    from harness.envs.maze import level_of
    from harness.envs.maze.env import MazeVectorEnv
    from harness.envs.maze.view import debug_view, first_person

    env = MazeVectorEnv(level_of(level), 1, autoreset=False)
    env.reset(seed=seed)
    pygame.init()
    image = debug_view(env, 0, scale) if show_map else first_person(env, 0, scale)
    screen = pygame.display.set_mode((image.shape[1], image.shape[0] + 24))
    pygame.display.set_caption(f"{level} - {KEYS_HELP}")
    font = pygame.font.Font(None, 22)
    clock = pygame.time.Clock()
    score, steps, quit_early = 0.0, 0, False
    limit = env.episode_steps if max_steps is None else min(max_steps, env.episode_steps)
    started = time.time()
    try:
        while steps < limit:
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                    quit_early = True
            if quit_early:
                break
            k = pygame.key.get_pressed()
            action = action_for_keys(k[pygame.K_UP] or k[pygame.K_w], k[pygame.K_DOWN] or k[pygame.K_s],
                                     k[pygame.K_LEFT], k[pygame.K_RIGHT], k[pygame.K_a], k[pygame.K_d])
            _, reward, _, _, _ = env.step(np.array([action]))
            score += float(reward[0])
            steps += 1
            image = debug_view(env, 0, scale) if show_map else first_person(env, 0, scale)
            screen.fill((0, 0, 0))
            screen.blit(pygame.surfarray.make_surface(image.transpose(1, 0, 2)), (0, 24))
            text = f"score {score:g}   time left {(env.episode_steps - steps) / fps:5.1f} s"
            screen.blit(font.render(text, True, (255, 255, 255)), (6, 4))
            pygame.display.flip()
            clock.tick(fps)
    finally:
        pygame.quit()
    record = {"level": level_of(level), "seed": seed, "score": score, "steps": steps,
              "episode_steps": env.episode_steps, "complete": steps >= env.episode_steps and not quit_early,
              "player": player, "time": started}
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("a") as f:
        f.write(json.dumps(record) + "\n")
    return score
