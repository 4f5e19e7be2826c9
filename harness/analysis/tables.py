"""Tables of a report as Markdown, CSV (tidy numbers) and LaTeX (booktabs, best entry in bold).

Each table carries its caption, which states what the numbers are, the protocol and the
normalization, so that a table copied into a paper still says how it was made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.compute import CURVE_REPS, Results
from harness.analysis.stats import AGGREGATES, LOWER_IS_BETTER


LONG_TABLE_ROWS = 30


@dataclass
class Table:
    name: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    bold: list[list[bool]]
    data: pd.DataFrame                      # the tidy numbers behind the table (the CSV)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        def cells(row: list[str], bold: list[bool]) -> str:
            return "| " + " | ".join(f"**{c}**" if b and c else c for c, b in zip(row, bold)) + " |"
        lines = [f"**Table: {self.caption}**", "", "| " + " | ".join(self.header) + " |",
                 "|" + "|".join(["---"] + ["--:"] * (len(self.header) - 1)) + "|"]
        lines += [cells(r, b) for r, b in zip(self.rows, self.bold)]
        lines += [""] + [f"_{n}_" for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def latex(self) -> str:
        def cell(text: str, bold: bool) -> str:
            value, sep, ci = text.partition(" [")
            out = rf"\textbf{{{latex_escape(value)}}}" if bold and value else latex_escape(value)
            return out + (rf" {{\scriptsize[{latex_escape(ci)}}}" if sep else "")
        spec = "l" + "r" * (len(self.header) - 1)
        body = [" & ".join(cell(c, b) for c, b in zip(r, bl)) + r" \\" for r, bl in zip(self.rows, self.bold)]
        caption = latex_escape(" ".join([self.caption, *self.notes]))
        header = " & ".join(rf"\textbf{{{latex_escape(h)}}}" for h in self.header) + r" \\"
        if len(self.rows) > LONG_TABLE_ROWS:  # a float cannot break across pages
            return "\n".join([r"{\small", rf"\begin{{longtable}}{{{spec}}}",
                              rf"\caption{{{caption}}}\label{{tab:{self.name}}} \\", r"\toprule", header,
                              r"\midrule", r"\endhead", *body, r"\bottomrule", r"\end{longtable}", "}", ""])
        return "\n".join([r"\begin{table}[tbp]", r"\centering", r"\small",
                          rf"\caption{{{caption}}}", rf"\label{{tab:{self.name}}}",
                          r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
                          rf"\begin{{tabular}}{{{spec}}}", r"\toprule", header,
                          r"\midrule", *body, r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""])

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{self.name}.md", folder / f"{self.name}.csv", folder / f"{self.name}.tex"]
        paths[0].write_text(self.markdown())
        self.data.to_csv(paths[1], index=False)
        paths[2].write_text(self.latex())
        return paths


_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                   "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                   "−": "$-$", "×": r"$\times$", "≥": r"$\geq$", "γ": r"$\gamma$", "τ": r"$\tau$",
                   "—": "---", "–": "--", "→": r"$\rightarrow$", ">": r"$>$", "<": r"$<$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def fmt(value: float) -> str:
    """Digits that a reader can use: 3 significant for small numbers, integers for large ones."""
    if value is None or not math.isfinite(value):
        raise ValueError(f"refusing to print a non-finite number ({value}) in a table")
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 or magnitude == 0 else f"{value:.3f}"


def fmt_ci(value: float, low: float, high: float, runs: int | None = None) -> str:
    if runs == 1:
        return f"{fmt(value)} (1 run)"
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def per_task_table(results: Results, protocol_note: str) -> Table:
    """Final return per task and algorithm: mean over finished runs with a 95% bootstrap CI."""
    table = results.per_task
    algorithms = [a for a in results.algorithms if a in set(table["algorithm"])]
    rows, bold = [], []
    notes = []
    for task in results.tasks:
        sub = table[table["task"] == task].set_index("algorithm")
        finished = sub[sub["runs"] > 0]
        best = finished["mean"].max() if len(finished) else np.nan
        row, flags = [task], [False]
        for algorithm in algorithms:
            if algorithm not in sub.index:
                row.append("not run")
                flags.append(False)
            elif sub.at[algorithm, "runs"] == 0:
                row.append(f"no finished run ({int(sub.at[algorithm, 'unfinished'])} unfinished)")
                flags.append(False)
            else:
                r = sub.loc[algorithm]
                row.append(fmt_ci(r["mean"], r["ci_low"], r["ci_high"], int(r["runs"])))
                flags.append(bool(r["mean"] == best) and len(finished) > 1)
        rows.append(row)
        bold.append(flags)
    unfinished = int(table["unfinished"].sum())
    if unfinished:
        notes.append(f"{unfinished} unfinished runs are left out of this table (they appear in the learning curves).")
    caption = ("Final score per task (last evaluation of each finished run): mean over runs with a "
               "95% percentile-bootstrap CI over runs in brackets; best mean in bold. " + protocol_note)
    columns = ["task", "algorithm", "protocol", "runs", "unfinished", "mean", "ci_low", "ci_high", "normalized"]
    return Table("per_task", caption, ["Task", *algorithms], rows, bold, table[columns], notes)


def aggregate_table(results: Results, normalization: str, reps: int, protocol_note: str) -> Table:
    agg = results.aggregates
    algorithms = [a for a in results.algorithms if a in set(agg["algorithm"])]
    best = {}
    for metric in AGGREGATES:
        values = agg[agg["metric"] == metric]["value"]
        best[metric] = values.min() if metric in LOWER_IS_BETTER else values.max()
    rows, bold = [], []
    for algorithm in algorithms:
        sub = agg[agg["algorithm"] == algorithm].set_index("metric")
        rows.append([algorithm] + [fmt_ci(sub.at[m, "value"], sub.at[m, "ci_low"], sub.at[m, "ci_high"])
                                   for m in AGGREGATES])
        bold.append([False] + [bool(sub.at[m, "value"] == best[m]) and len(algorithms) > 1 for m in AGGREGATES])
    n_tasks = len(results.aggregate_tasks)
    runs = ", ".join(f"{a}: {int(agg[agg['algorithm'] == a]['runs'].iloc[0])}" for a in algorithms)
    short = normalization.split(":")[0].split(" (")[0]
    caption = (f"Aggregate {short} scores over {n_tasks} tasks (runs: {runs}), final evaluation of finished runs, "
               f"with 95% stratified percentile-bootstrap CIs ({reps:,} replicates). Optimality gap: lower is "
               f"better; best in bold. Normalization: {normalization}. " + protocol_note)
    header = ["Algorithm", *AGGREGATES]
    notes = _excluded_note(results)
    return Table("aggregate", caption, header, rows, bold, agg, notes)


def poi_table(results: Results, reps: int = CURVE_REPS) -> Table:
    poi = results.poi
    order = {a: i for i, a in enumerate(results.algorithms)}
    forward = poi[[order[x] < order[y] for x, y in zip(poi["x"], poi["y"])]]
    rows = [[f"P({x} > {y})", fmt_ci(v, lo, hi)] for x, y, v, lo, hi in forward.itertuples(index=False)]
    bold = [[False, False] for _ in rows]
    caption = (f"Probability of improvement P(X > Y): the chance that a run of X on a random task scores higher "
               f"than a run of Y (Mann-Whitney U / nm, averaged over {len(results.aggregate_tasks)} tasks), "
               f"with 95% stratified bootstrap CIs ({reps:,} replicates).")
    return Table("probability_of_improvement", caption, ["Comparison", "Probability"], rows, bold, poi)


def reference_table(table: pd.DataFrame, label: str) -> Table:
    rows = [[r.task, fmt(r.low), fmt(r.high), str(r.kind), str(r.source)] for r in table.itertuples()]
    bold = [[False] * 5 for _ in rows]
    caption = f"Normalization: {label}. Scores map low → 0 and high → 1."
    return Table("normalization", caption, ["Task", "Low", "High", "Kind", "Source"], rows, bold, table)


def _excluded_note(results: Results) -> list[str]:
    if not results.excluded:
        return []
    items = "; ".join(f"{t} ({why})" for t, why in sorted(results.excluded.items()))
    return [f"Not in aggregates: {items}."]
