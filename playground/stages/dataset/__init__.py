"""Stage 1, Dataset: import/export and format detection (io), the token preview (preview).

May import: core. Never ui, cli or gradio.
"""
