"""Stages of the loop, one package each: dataset, sft, preferences, reward, dpo, ppo.

Each package holds the service functions the UI and the CLI call and, for a training stage, `train.py`: the
subprocess entry `run(config, run_dir)`. `trainer.py` holds what the trainers share (stop signal, resume,
checkpoints, model set-up); `data.py` reads the rows a trainer trains on.

May import: core and other stages. Never ui, cli or gradio.
"""
