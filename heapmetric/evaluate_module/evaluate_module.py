"""Alias so that ``evaluate.load("<...>/heapmetric/evaluate_module")`` (the folder) finds a script named after
the folder; the metric itself is :mod:`heapmetric.evaluate_module.heapmetric`."""

from heapmetric.evaluate_module.heapmetric import Heapmetric

__all__ = ["Heapmetric"]
