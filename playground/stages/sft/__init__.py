"""Stage 2, SFT: the trainer (train.py, TRL SFTTrainer + LoRA) and services (service.py: chat, merge, perplexity).

May import: core and other stages. Never ui, cli or gradio.
"""
