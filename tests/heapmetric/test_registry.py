"""The criteria registry: every YAML file is valid, names resolve, unknown names suggest close ones."""

import pytest

from heapmetric import registry
from heapmetric.errors import InputError, UnknownNameError


def test_every_criterion_is_complete():
    criteria = registry.list_criteria()
    assert criteria, "no criteria registered"
    for c in criteria:
        assert len(c.instructions) >= 3, c.id
        assert c.definition, c.id
        assert set(c.fields) <= set(registry.FIELDS), c.id
        assert c.scale is None or c.scale[0] < c.scale[1], c.id
    assert len({c.id for c in criteria}) == len(criteria)


def test_resolve_and_suggestions():
    c = registry.resolve("summarization", "coherence")
    assert c.id == "summarization/coherence" and c.instruction == c.instructions[0]
    assert registry.resolve(criterion="summarization/fluency").name == "fluency"
    with pytest.raises(UnknownNameError, match="did you mean 'coherence'"):
        registry.get_criterion("summarization", "coherance")
    with pytest.raises(UnknownNameError, match="unknown task"):
        registry.get_criterion("sumarization", "coherence")
    with pytest.raises(InputError):
        registry.resolve()


def test_free_text_criterion_is_first_class():
    c = registry.resolve(instruction="Rate how polite the reply is.")
    assert c.custom and c.task == "custom" and c.instructions == ("Rate how polite the reply is.",)
    assert registry.resolve(instruction="Rate how polite the reply is.").id == c.id
    with pytest.raises(InputError):
        registry.free_text_criterion("   ")


def test_version_is_stable():
    assert registry.registry_version() == registry.registry_version()
    assert len(registry.registry_version()) == 12
