"""Results to paper: load runs, normalize, aggregate with bootstrap CIs, write tables, figures and LaTeX.

No torch here. Modules: load (run directories → tidy tables), references and normalize (per-task
reference scores), stats (Agarwal et al. 2021 on numpy), curves, compute (every number of a report),
tables, plots, paper (main.tex), baselines (Dopamine's published curves), report and cli (`harness report`).
"""
