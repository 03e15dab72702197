"""Judges: anything that scores outputs or compares pairs, behind one protocol (:mod:`heapmetric.judges.base`)."""
