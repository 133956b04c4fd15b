"""The Gradio UI: app (assembles the Blocks), context (server-wide state), tabs/ (one per stage), widgets/.

May import: core, stage services, gradio. Never a trainer (stages/*/train.py, stages/trainer.py) or cli.
"""
