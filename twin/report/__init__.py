"""Reports of a run: plots (Gantt, KPIs) from the run directory."""
