"""Stage 3, Preferences: pairs and votes in the workspace, agreement stats, import/export (pairs).

May import: core and other stages. Never ui, cli or gradio.
"""
