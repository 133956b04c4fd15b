"""The Evaluate stage: did the loop teach the policy anything, by judges it was not trained on?

`service.evaluate` generates every policy's answers (cached), scores them with each judge against a baseline and
stores the report; `human` sends (policy, baseline) pairs to the arena and reads the votes back; `board` builds the
leaderboard; `runner` runs an evaluation in the background for the UI. The CLI is `python -m playground evaluate`.

May import: core and other stages (reward, ppo.rules, preferences, sft.service). Never ui, cli or gradio.
"""
