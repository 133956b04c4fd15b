"""Core: the pieces every stage and the UI share, with no stage logic and no gradio.

config (one dataclass per stage), errors (UserError and its kinds), paths (PLAYGROUND_HOME), runs (the
run-directory contract), workspace (SQLite), jobs (one subprocess per run), models (registry, loading),
chat (prompt/messages helpers), generation (sampling), builtin (data shipped in the package), hub (one push).

May import: the standard library, third-party libraries, other core modules. Never stages, ui or cli.
"""
