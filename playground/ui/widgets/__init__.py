"""Widgets the tabs share: the live run view (live), the run panel (run_panel), config forms (forms).

May import: core, stage services, gradio. Never a trainer (stages/*/train.py, stages/trainer.py).
"""
