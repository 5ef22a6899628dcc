"""After training: predict, evaluate, export; each reads a run directory and nothing else."""
