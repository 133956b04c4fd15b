"""Trainers, one module per stage, each with `run(config, run_dir)`. Only this package imports trl."""
