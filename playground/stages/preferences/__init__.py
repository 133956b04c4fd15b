"""Stage 3, Preferences: the arena and the votes it stores.

    arena.py     the arena service: prompt modes, pair generation and serving, vote checks (stale pair, too
                 quick, per-user limits from core/limits.py)
    pairs.py     pairs and votes in the workspace, edits, demonstrations, workshop pool, agreement, leaderboard
    prefetch.py  the next pair, generated in the background while the annotator reads
    judge.py     a finished reward run as the "RM says" judge shown after a vote (its scorer is passed in by the UI)
    io.py        import / export / push of preference pairs (TRL and HH formats)
    rows.py      judged pairs -> TRL preference rows (what the reward and DPO trainers read); needs only core

May import: core and other stages except reward (which reads these votes: no loop). Never ui, cli or gradio.
"""
