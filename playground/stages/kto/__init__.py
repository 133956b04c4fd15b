"""KTO (in the Reward tab, beside DPO): train from rated answers. config.py (KTORun), service.py (the rated answers
as TRL's unpaired rows, the form's data line), train.py (TRL's KTOTrainer + LoRA; reference = adapter off).

May import: core and other stages. Never ui, cli or gradio.
"""
