"""Supervised fine-tuning of chat models on (synthesized) conversations: ``heapmetric finetune``.

``data.py`` reads synth output folders, chat JSONL and ``datasets`` folders and masks non-assistant tokens;
``sft.py`` runs TRL's ``SFTTrainer`` with peft LoRA/QLoRA; ``card.py`` writes the model card. Nothing heavy is
imported here.
"""
