"""The scoring engine: rendering (``render``), token-budget batching (``batching``), the reward model and its
checkpoint format (``reward_model``), calibration maps (``calibration``), device/dtype/quantization choices
(``device``), keyword-API parsing (``inputs``), and ``load()`` / :class:`Metric` (``metric``).

Nothing heavy is imported here; ``heapmetric.load`` imports torch on first use.
"""
