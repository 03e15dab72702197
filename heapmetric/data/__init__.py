"""Converters from the raw human-judgement sources (``$HEAPMETRIC_DATA/<folder>``) to heapmetric records.

One module per source. Each exposes ``NAME`` (the dataset name written into every record), ``FOLDER`` (its
sub-folder of the data directory), ``LABEL_SOURCE`` (who labelled it: ``"human"`` or the judge model; ``None``
when every record sets ``meta["label_source"]`` itself) and ``convert(folder, *, aggregation="mean") -> list[Record]``, which returns
*all* judgements and *native* preferences of the source, without splits. Splits
(:mod:`heapmetric.data.splits`), preferences derived from graded judgements
(:mod:`heapmetric.data.preferences`) and the files on disk (:mod:`heapmetric.data.build`) are shared.

Converters are imported lazily: a module that is not present in this checkout is reported as unavailable
instead of breaking the others.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from heapmetric.errors import UnknownNameError, UnsupportedError

#: dataset name -> module under ``heapmetric.data``, in the order ``data build`` processes them.
CONVERTERS: dict[str, str] = {
    "summeval": "summeval",
    "realsumm": "realsumm",
    "qags": "qags",
    "rank19": "rank19",
    "data2text": "data2text",
    "topicalchat_usr": "topicalchat_usr",
    "personachat_usr": "personachat_usr",
    "fed": "fed",
    "wmt_mqm_ted": "wmt_mqm_ted",
    "llmbar": "llmbar",
    "autoj_pairwise": "autoj_pairwise",
    "prometheus_eval": "prometheus_eval",
    "arena_bench_v1": "arena_bench_v1",
    "alpacaeval_annotations": "alpacaeval_annotations",
    "heap_sources": "heap_sources",
}


def get_converter(name: str) -> ModuleType:
    """The converter module of dataset ``name``.

    Raises :class:`UnknownNameError` (with close matches) for an unknown name and :class:`UnsupportedError`
    when the module is registered but not present in this checkout.
    """
    if name not in CONVERTERS:
        raise UnknownNameError("dataset", name, CONVERTERS)
    module_name = f"heapmetric.data.{CONVERTERS[name]}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise UnsupportedError(
                f"converter {name!r} is not available in this checkout ({module_name} is missing)"
            ) from exc
        raise


def available_converters() -> list[str]:
    """Names of the registered converters whose module is present."""
    names = []
    for name in CONVERTERS:
        try:
            get_converter(name)
        except UnsupportedError:
            continue
        names.append(name)
    return names
