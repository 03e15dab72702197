"""heapmetric as a Hugging Face ``evaluate`` metric, loadable offline from this file or its folder:

    >>> import evaluate                                                       # doctest: +SKIP
    >>> from heapmetric.evaluate_module import module_path                    # doctest: +SKIP
    >>> metric = evaluate.load(module_path())                                 # doctest: +SKIP
    >>> metric.compute(predictions=["A short summary."], sources=["The article ..."],
    ...                task="summarization", criterion="coherence")           # doctest: +SKIP
    {'scores': [...], 'mean_score': ..., 'system_scores': {}, 'model': 'default'}

``references`` are optional (one string per prediction, or a list of strings); ``sources`` and ``contexts``
are keyword lists of the same length. ``model`` is any ``heapmetric.load`` argument (a checkpoint folder;
None for the embedded default) or a judge spec such as ``rouge2``; it is loaded once and kept by the module
instance. ``task``/``criterion`` name a registered criterion, or ``instruction`` gives a free-text one.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate

_CITATION = """\
@inproceedings{mehri-shwartz-2023-automatic,
  title = {Automatic Evaluation of Generative Models with Instruction Tuning},
  author = {Mehri, Shuhaib and Shwartz, Vered},
  booktitle = {Proceedings of the Third Workshop on Natural Language Generation, Evaluation, and Metrics (GEM)},
  year = {2023}
}
"""

_DESCRIPTION = """\
heapmetric is a learned NLG metric instruction-tuned on human judgements across tasks and criteria (HEAP).
It reads an instruction naming the task and criterion, the input fields (source, context, reference) and the
output, and returns one score per output. Any heapmetric judge spec (baselines such as rouge2, a checkpoint
folder) can be used through the ``model`` argument.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): the outputs to score.
    references (list of str or list of list of str, optional): reference outputs.
    sources (list of str, optional): the inputs the outputs answer (article, prompt, ...).
    contexts (list of str, optional): extra context (dialogue history, knowledge).
    systems (list of str, optional): system names, for per-system means.
    task (str), criterion (str): a registered criterion, e.g. "summarization", "coherence".
    instruction (str): a free-text evaluation instruction instead of task/criterion.
    model (str, optional): a checkpoint folder (heapmetric.load), or a judge spec such as "rouge2".
    batch_size (int, optional): scoring batch size.
Returns:
    scores (list of float): one score per prediction, in input order.
    mean_score (float): their mean.
    system_scores (dict): per-system means when systems were given.
    model (str): the judge used.
"""

_JUDGE_SPECS = (
    "heapmetric",
    "generative",
    "length",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "bleu",
    "chrf",
    "embed-ref",
    "embed-src",
    "scores",
    "openai",
    "annotations",
)


def _is_spec(model: str) -> bool:
    prefix = model.split("?", 1)[0].split(":", 1)[0]
    return prefix in _JUDGE_SPECS


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Heapmetric(evaluate.Metric):
    """The ``evaluate`` wrapper: ``_compute`` builds heapmetric score items and calls the judge."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # several references per prediction, or one; evaluate takes the first schema the inputs fit
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
                datasets.Features(
                    {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
                ),
            ],
            reference_urls=["https://aclanthology.org/2023.gem-1.4/"],
        )

    def compute(
        self, *, predictions: Any = None, references: Any = None, **kwargs: Any
    ) -> dict[str, Any] | None:
        """``evaluate``'s compute; ``references`` may be omitted (reference-free criteria)."""
        if predictions is not None and references is None:
            references = [[] for _ in predictions]
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _judge(self, model: str | None) -> Any:
        cache = self.__dict__.setdefault("_heapmetric_judges", {})
        key = model or "<default>"
        if key not in cache:
            if model and _is_spec(model):
                from heapmetric.judges.spec import load_judge

                cache[key] = load_judge(model)
            else:
                import heapmetric

                cache[key] = heapmetric.load(model)
        return cache[key]

    def _compute(
        self,
        predictions: list[str],
        references: list[Any] | None = None,
        *,
        sources: list[str] | None = None,
        contexts: list[str] | None = None,
        systems: list[str] | None = None,
        task: str | None = None,
        criterion: str | None = None,
        instruction: str | None = None,
        model: str | None = None,
        batch_size: int | None = None,
    ) -> dict[str, Any]:
        from heapmetric.errors import InputError
        from heapmetric.judges.base import ScoreItem

        n = len(predictions)
        for name, values in (
            ("references", references),
            ("sources", sources),
            ("contexts", contexts),
            ("systems", systems),
        ):
            if values is not None and len(values) != n:
                raise InputError(f"{name} has {len(values)} entries for {n} predictions", field=name)
        items = []
        for i, output in enumerate(predictions):
            ref = references[i] if references is not None else None
            refs = tuple(ref) if isinstance(ref, (list, tuple)) and ref else None
            items.append(
                ScoreItem(
                    output=output,
                    reference=ref if isinstance(ref, str) else None,
                    references=refs,
                    source=sources[i] if sources else None,
                    context=contexts[i] if contexts else None,
                    system=systems[i] if systems else None,
                    task=task,
                    criterion=criterion,
                    instruction=instruction,
                    id=str(i),
                )
            )
        judge = self._judge(model)
        result = judge.score(items, batch_size=batch_size)
        scores = [float(s) for s in result.scores]
        return {
            "scores": scores,
            "mean_score": sum(scores) / len(scores) if scores else float("nan"),
            "system_scores": dict(result.system_scores),
            "model": judge.info.name,
        }
