"""Stage 1, Dataset: import/export and format detection (io), the token preview (preview), and the services the
Dataset tab and scripts call: rows added, edited, deleted, split, exported, pushed (service), imports staged then
committed (staging), validation, duplicates and the length filter (clean), model drafts (draft).

May import: core. Never ui, cli or gradio.
"""
