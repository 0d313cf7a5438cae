import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emobalance.config import ModelConfig, TrainConfig
from emobalance.models.cnn_bilstm_attention import CNNBiLSTMAttention
from emobalance.training import (
    Trainer,
    asymmetric_loss,
    focal_loss,
    length_bucketed_batches,
    pad_batch,
    resolve_precision,
)


def test_buckets_cover_every_index_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1000)
    batches = length_bucketed_batches(lengths, 32, seed=1, bucket_batches=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 8  # random batches would spread over ~55 tokens
    again = length_bucketed_batches(lengths, 32, seed=1, bucket_batches=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_buckets_split_evenly_across_ranks():
    lengths = np.arange(1, 1001) % 37 + 1
    per_rank = [
        length_bucketed_batches(lengths, 16, seed=3, rank=r, world_size=2) for r in range(2)
    ]
    assert len(per_rank[0]) == len(per_rank[1])
    a, b = (set(np.concatenate(p).tolist()) for p in per_rank)
    assert not a & b


def test_pad_batch_dynamic_padding():
    seqs = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6])]
    ids, lens = pad_batch(seqs, np.array([1, 2]))
    assert ids.tolist() == [[4, 0], [5, 6]]
    assert lens.tolist() == [1, 2]


def test_losses_reduce_to_bce():
    torch.manual_seed(0)
    logits = torch.randn(6, 28)
    y = (torch.rand(6, 28) > 0.7).float()
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    torch.testing.assert_close(focal_loss(logits, y, gamma=0.0), bce)
    torch.testing.assert_close(
        asymmetric_loss(logits, y, gamma_neg=0.0, gamma_pos=0.0, clip=0.0),
        bce,
        atol=1e-6,
        rtol=1e-5,
    )
    # focal down-weights easy examples: never above BCE
    assert torch.all(focal_loss(logits, y, gamma=2.0) <= bce + 1e-7)


def test_focal_loss_hand_value():
    logits = torch.tensor([[0.0]])
    y = torch.tensor([[1.0]])
    # p = 0.5, bce = ln 2, (1 - p)^2 = 0.25
    assert focal_loss(logits, y, 2.0).item() == pytest.approx(0.25 * np.log(2), rel=1e-6)


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("off", cpu) is None
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    assert resolve_precision("fp16", cpu) is None  # fp16 autocast is a CUDA thing
    assert resolve_precision("auto", torch.device("cuda")) == torch.float16


@pytest.mark.parametrize("loss", ["bce", "bce_pos_weight", "focal", "asl"])
def test_tiny_model_loss_decreases(loss):
    rng = np.random.default_rng(0)
    # token 2 -> label 0, token 3 -> label 1: learnable in a few steps
    seqs, y = [], np.zeros((64, 28), dtype=np.float32)
    for i in range(64):
        tok = 2 + i % 2
        seqs.append(np.array([tok, *rng.integers(4, 20, size=rng.integers(1, 6)).tolist()]))
        y[i, i % 2] = 1
    torch.manual_seed(0)
    model = CNNBiLSTMAttention(
        20, ModelConfig(embedding_dim=8, conv_channels=8, lstm_hidden=8, attention_dim=4,
                        dropout=0.0, embedding_dropout=0.0),
    )  # fmt: skip
    cfg = TrainConfig(epochs=6, batch_size=16, lr=0.02, loss=loss, mixed_precision="off",
                      lr_schedule="constant", progress=False)  # fmt: skip
    res = Trainer(model, cfg).fit(seqs, y)
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < losses[0] * 0.8
    assert res.best_epoch == 6


def test_early_stopping_keeps_best_weights():
    rng = np.random.default_rng(1)
    seqs = [rng.integers(2, 30, size=rng.integers(1, 8)) for _ in range(40)]
    y = (rng.random((40, 28)) > 0.9).astype(np.float32)
    torch.manual_seed(0)
    model = CNNBiLSTMAttention(30, ModelConfig(embedding_dim=8, conv_channels=4, lstm_hidden=4,
                                               attention_dim=4))  # fmt: skip
    cfg = TrainConfig(epochs=5, batch_size=8, patience=0, mixed_precision="off", progress=False)
    res = Trainer(model, cfg).fit(seqs, y, seqs[:20], y[:20].astype(np.uint8))
    scores = [h["dev_macro_f1"] for h in res.history]
    assert res.best_score == max(scores)
    assert res.best_epoch == int(np.argmax(scores)) + 1


def test_inference_batches_cover_rows_and_group_lengths():
    from emobalance.training import inference_batches

    rng = np.random.default_rng(0)
    lengths = np.sort(rng.integers(1, 30, size=2000))
    batches = inference_batches(lengths, 64)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(2000))
    assert all(len(b) <= 64 for b in batches)
    uniform = [b for b in batches if len(set(lengths[b])) == 1]
    assert sum(map(len, uniform)) > 1500  # most rows run without padding


def test_unpadded_batch_matches_packed_path():
    model = CNNBiLSTMAttention(30, ModelConfig(embedding_dim=8, conv_channels=4, lstm_hidden=4,
                                               attention_dim=4)).eval()  # fmt: skip
    ids = torch.randint(2, 30, (5, 7))
    with torch.no_grad():
        fast = model(ids, torch.full((5,), 7))  # uniform lengths: plain LSTM
        padded = torch.cat([ids, torch.zeros(5, 2, dtype=ids.dtype)], 1)
        packed = model(padded, torch.full((5,), 7))  # padding: packed LSTM
    torch.testing.assert_close(fast, packed, atol=1e-6, rtol=1e-5)


def test_batch_groups_refuses_more_processes_than_batches():
    from emobalance.errors import ConfigError
    from emobalance.training import batch_groups

    with pytest.raises(ConfigError, match="cannot give each of 4 processes a step"):
        batch_groups(np.full(10, 5), batch_size=8, world_size=4)
    assert len(batch_groups(np.full(64, 5), batch_size=8, world_size=4)) == 2


class _BagOfIds(torch.nn.Module):
    """A keyword-input network, as a Hugging Face encoder is called: masked mean of embeddings."""

    def __init__(self, vocab: int = 30) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, 8)
        self.head = torch.nn.Linear(8, 28)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.unsqueeze(-1).float()
        return self.head((self.emb(input_ids) * m).sum(1) / m.sum(1).clamp(min=1.0))


def _mask_collate(ids, idx, device):
    x, lens = pad_batch(ids, idx)
    mask = (torch.arange(x.shape[1])[None, :] < lens[:, None]).long()
    return {"input_ids": x.to(device), "attention_mask": mask.to(device)}


def test_hooks_train_a_keyword_network_with_its_own_groups_precision_and_dev_scoring(caplog):
    import logging

    rng = np.random.default_rng(0)
    seqs = [np.array([2 + i % 2, *rng.integers(4, 30, size=rng.integers(1, 6)).tolist()])
            for i in range(64)]  # fmt: skip
    y = np.zeros((64, 28), dtype=np.float32)
    y[np.arange(64), np.arange(64) % 2] = 1
    torch.manual_seed(0)
    net = _BagOfIds()
    seen = {"precision": [], "dev": 0, "seeds": []}

    def groups(model):
        return [
            {"params": list(model.emb.parameters()), "lr": 0.05},
            {"params": list(model.head.parameters()), "lr": 0.1, "weight_decay": 0.0},
        ]

    def precision(device):
        seen["precision"].append(device.type)
        return None

    def score_dev(model, dev):
        seen["dev"] += 1
        with torch.no_grad():
            batch = _mask_collate(dev, np.arange(len(dev)), torch.device("cpu"))
            return torch.sigmoid(model(**batch)).numpy()

    def epoch_seed(epoch):
        seen["seeds"].append(epoch)
        return 100 + epoch

    cfg = TrainConfig(epochs=4, batch_size=16, loss="bce", lr_schedule="constant",
                      warmup_ratio=0.0, patience=10, mixed_precision="off",
                      progress=False)  # fmt: skip
    trainer = Trainer(net, cfg, collate=_mask_collate, param_groups=groups,
                      optimizer=torch.optim.AdamW, precision=precision, score_dev=score_dev,
                      epoch_seed=epoch_seed, desc="toy epoch")  # fmt: skip
    with caplog.at_level(logging.INFO, logger="emobalance"):
        res = trainer.fit(seqs, y, seqs[:32], y[:32].astype(np.uint8))
    assert seen == {"precision": ["cpu"], "dev": 4, "seeds": [1, 2, 3, 4]}
    groups = trainer.optimizer_.param_groups  # constant schedule: the groups' own rates
    assert isinstance(trainer.optimizer_, torch.optim.AdamW) and not groups[0]["fused"]
    assert [g["lr"] for g in groups] == [0.05, 0.1]
    assert [g["weight_decay"] for g in groups] == [cfg.weight_decay, 0.0]
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    # both learnable labels are right on dev: 2 of the 28 labels' F1 are 1
    assert res.best_score == max(h["dev_macro_f1"] for h in res.history) > 1.9 / 28
    lines = [r.getMessage() for r in caplog.records if r.name == "emobalance.training"]
    assert len(lines) == 4 and lines[0].startswith("toy epoch 1: loss ")
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "emobalance.training")
    assert "dev macro-F1" in lines[0]


def test_one_bucketing_rule_for_one_process_and_for_ranks():
    from emobalance.training import batch_groups

    lengths = np.random.default_rng(2).integers(1, 40, size=700)
    one = length_bucketed_batches(lengths, 16, seed=5)
    assert all(np.array_equal(a, g[0]) for a, g in
               zip(one, batch_groups(lengths, 16, seed=5), strict=True))  # fmt: skip
    groups = batch_groups(lengths, 16, 3, seed=5)
    for r in range(3):
        mine = length_bucketed_batches(lengths, 16, seed=5, rank=r, world_size=3)
        assert all(np.array_equal(a, g[r]) for a, g in zip(mine, groups, strict=True))


def test_reseed_off_keeps_the_callers_random_stream():
    cfg = TrainConfig(epochs=1, batch_size=8, mixed_precision="off", progress=False, seed=0)
    seqs = [np.array([2, 3])] * 8
    y = np.zeros((8, 28), dtype=np.float32)

    def first_draw(reseed):
        torch.manual_seed(123)
        model = CNNBiLSTMAttention(5, ModelConfig(embedding_dim=4, conv_channels=4,
                                                  lstm_hidden=4, attention_dim=4))  # fmt: skip
        Trainer(model, cfg, reseed=reseed).fit(seqs, y)
        return torch.rand(1).item()

    assert first_draw(True) != first_draw(False)


def test_equal_length_batches_cover_rows_once_with_the_same_number_of_steps():
    from emobalance.training import batch_groups

    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 40, size=5000)
    plain = batch_groups(lengths, 32, seed=4)
    equal = batch_groups(lengths, 32, seed=4, equal_length=True)
    assert len(equal) == len(plain)  # the LR schedule's step count is unchanged
    flat = np.concatenate([g[0] for g in equal])
    assert sorted(flat.tolist()) == list(range(5000))
    sizes = [len(g[0]) for g in equal]
    assert sum(s < 32 for s in sizes) <= -(-5000 // (32 * 50))  # one short batch per bucket
    one_length = [g[0] for g in equal if len(set(lengths[g[0]])) == 1]
    plain_one = [g[0] for g in plain if len(set(lengths[g[0]])) == 1]
    assert len(one_length) > len(equal) / 2 > len(plain_one)
    again = batch_groups(lengths, 32, seed=4, equal_length=True)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(equal, again, strict=True))


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, float("inf"), float("nan")])
def test_clip_gradients_is_bit_identical_to_clip_grad_norm(scale):
    import torch

    from emobalance.training import clip_gradients

    torch.manual_seed(0)
    grads = [torch.randn(40, 7) * 0.01, torch.randn(5)]
    grads[1][0] = scale
    a = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    b = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, q, g in zip(a, b, grads, strict=True):
        p.grad, q.grad = g.clone(), g.clone()
    want = torch.nn.utils.clip_grad_norm_(a, 1.0)
    got = clip_gradients(b, 1.0)
    torch.testing.assert_close(got, want, equal_nan=True, rtol=0, atol=0)
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p.grad.nan_to_num(), q.grad.nan_to_num())
        assert torch.equal(p.grad.isnan(), q.grad.isnan())


def _three_class_net_and_data(seed: int = 2):
    """A 3-output network and single-label data: token 2 + c means class c."""
    rng = np.random.default_rng(seed)
    seqs, y = [], np.zeros((48, 3), dtype=np.uint8)
    for i in range(48):
        seqs.append(np.array([2 + i % 3, *rng.integers(5, 20, size=rng.integers(1, 5))]))
        y[i, i % 3] = 1
    torch.manual_seed(0)
    net = CNNBiLSTMAttention(20, ModelConfig(embedding_dim=8, conv_channels=4, lstm_hidden=4,
                                             attention_dim=4), num_labels=3)  # fmt: skip
    return net, seqs, y


def test_single_label_dev_is_scored_on_the_most_probable_label(monkeypatch):
    from emobalance import training
    from emobalance.metrics import macro_f1, predict_single_label

    net, seqs, y = _three_class_net_and_data()
    cfg = TrainConfig(epochs=2, batch_size=8, mixed_precision="off", progress=False)
    tuned = []
    monkeypatch.setattr(training, "tune_thresholds", lambda *a, **k: tuned.append(k) or 0.5)
    trainer = Trainer(net, cfg, single_label=True)
    res = trainer.fit(seqs, y.astype(np.float32), seqs, y)
    assert tuned == []  # no thresholds for a single-label schema
    proba = trainer.score_dev(net, seqs)
    assert proba.shape == (48, 3)
    # the best epoch's weights are kept, so its score is the argmax macro-F1 of what it gives
    assert res.best_score == pytest.approx(macro_f1(y, predict_single_label(proba)))


@pytest.mark.parametrize("objective", ["f1", "jaccard"])
def test_multi_label_dev_tunes_for_the_models_objective(monkeypatch, objective):
    from emobalance import training

    real = training.tune_thresholds
    seen = []

    def spy(y, p, **kwargs):
        seen.append((p.shape[1], kwargs.get("objective")))
        return real(y, p, **kwargs)

    monkeypatch.setattr(training, "tune_thresholds", spy)
    net, seqs, y = _three_class_net_and_data()
    cfg = TrainConfig(epochs=1, batch_size=8, mixed_precision="off", progress=False)
    Trainer(net, cfg, threshold_objective=objective).fit(seqs, y.astype(np.float32), seqs, y)
    assert seen == [(3, objective)]
