"""Stage 5, PPO (ours; TRL removed its PPOTrainer): trainer (train.py), maths (core.py), rule rewards
(rules.py) and the sandboxed reward expression (expr.py).

May import: core and other stages. Never ui, cli or gradio.
"""
