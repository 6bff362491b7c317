"""Every image model: its math against a reference, its shapes, and overfitting 50 images."""

import numpy as np
import pytest
import torch

from rnnlab.data.images import to_float
from rnnlab.models.cnn import CNNConfig, CNNEncoder
from rnnlab.models.features import InputPipeline
from rnnlab.models.image_classifier import ImageModelConfig, build_classifier, build_input_pipeline
from rnnlab.models.knn import KNNClassifier, KNNConfig
from rnnlab.models.linear import LinearClassifier, LinearConfig, svm_loss
from rnnlab.models.mlp import MLPClassifier, MLPConfig
from rnnlab.models.row_rnn import RowRNNClassifier, RowRNNConfig
from rnnlab.reference import softmax_loss
from rnnlab.reference import svm_loss as reference_svm_loss
from rnnlab.train.image_loop import image_config, train_image
from rnnlab.train.metrics import read_metrics


def identity_pipeline(shape, flatten=True):
    return InputPipeline(shape, center="none", scale=False, flatten=flatten)


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_linear_loss_and_gradient_match_the_numpy_reference(loss):
    torch.manual_seed(0)
    model = LinearClassifier(LinearConfig(loss=loss, reg=0.0), identity_pipeline((1, 3, 4)), 5).double()
    with torch.no_grad():
        model.fc.weight.normal_()
    x = torch.rand(7, 1, 3, 4, dtype=torch.float64)
    y = torch.randint(0, 5, (7,))
    scores = model(x)
    value = model.loss(scores, y)
    (dscores,) = torch.autograd.grad(value, scores)
    reference = softmax_loss if loss == "softmax" else reference_svm_loss
    expected, expected_dscores = reference(scores.detach().numpy(), y.numpy())
    assert abs(value.item() - expected) < 1e-10
    np.testing.assert_allclose(dscores.numpy(), expected_dscores, atol=1e-10)


def test_linear_regularizers():
    model = LinearClassifier(
        LinearConfig(reg=0.5, regularizer="elastic", beta=2.0), identity_pipeline((1, 2, 2)), 3
    )
    with torch.no_grad():
        model.fc.weight.copy_(torch.tensor([[1.0, -2, 0, 0], [0, 0, 3, 0], [0, 0, 0, -1]]))
    assert model.regularization().item() == 2 * (1 + 4 + 9 + 1) + (1 + 2 + 3 + 1)  # β·ΣW² + Σ|W|
    model.config.regularizer = "l1"
    assert model.regularization().item() == 7
    scores = torch.zeros(2, 3)
    labels = torch.tensor([0, 2])
    assert float(svm_loss(scores, labels)) == 2.0  # (K − 1)·Δ when all scores are equal


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_knn_matches_brute_force_and_breaks_ties_towards_the_nearest(distance):
    rng = np.random.default_rng(0)
    train = torch.from_numpy(rng.integers(0, 256, (300, 1, 4, 4)).astype(np.uint8))
    labels = torch.from_numpy(rng.integers(0, 3, 300))
    queries = torch.from_numpy(rng.integers(0, 256, (40, 1, 4, 4)).astype(np.uint8))
    knn = KNNClassifier(KNNConfig(k=5, distance=distance), identity_pipeline((1, 4, 4)), 3, (1, 4, 4)).fit(
        train, labels
    )
    knn.train_batch, knn.query_batch = 64, 16  # many blocks: the merge of partial top-k lists is exercised
    probs = knn(to_float(queries))
    a, b = to_float(queries).flatten(1).double(), to_float(train).flatten(1).double()
    d = torch.cdist(a, b, p=1 if distance == "l1" else 2)
    sorted_d, order = d.sort(1)
    nearest = order[:, :5]
    checked = 0
    for i in range(40):
        if bool((sorted_d[i, 1:6] - sorted_d[i, :5] < 1e-4).any()):
            continue  # equal distances: either order is right
        checked += 1
        votes = torch.bincount(labels[nearest[i]], minlength=3).float()
        top = (votes == votes.max()).nonzero().flatten().tolist()
        expected = next(int(labels[j]) for j in nearest[i] if int(labels[j]) in top)  # the nearest tied class
        assert int(probs[i].argmax()) == expected
        torch.testing.assert_close(probs[i], votes / 5, atol=2e-3, rtol=0)
    assert checked > 20
    accuracy = knn.accuracy_by_k(to_float(queries), probs.argmax(1), [5])
    assert accuracy[5] == 1.0


def test_knn_survives_a_state_dict_round_trip():
    train = torch.randint(0, 256, (30, 1, 4, 4), dtype=torch.uint8)
    labels = torch.randint(0, 3, (30,))
    knn = KNNClassifier(KNNConfig(k=3), identity_pipeline((1, 4, 4)), 3, (1, 4, 4)).fit(train, labels)
    fresh = KNNClassifier(KNNConfig(k=1), identity_pipeline((1, 4, 4)), 3, (1, 4, 4))
    fresh.load_state_dict(knn.state_dict())
    x = torch.rand(5, 1, 4, 4)
    assert int(fresh.k) == 3 and torch.equal(fresh(x), knn(x))


@pytest.mark.parametrize("activation", ["relu", "leaky-relu", "elu", "tanh", "sigmoid", "maxout"])
def test_mlp_activations(activation):
    model = MLPClassifier(MLPConfig(hidden=[12, 8], activation=activation), identity_pipeline((1, 4, 4)), 3)
    assert model(torch.rand(5, 1, 4, 4)).shape == (5, 3)
    if activation == "maxout":  # two affine pieces per unit: twice the weights of a linear layer
        assert model.body[1].linear.weight.shape == (24, 16)


#: each nonlinearity written out elementwise (maxout: the larger of each unit's two affine pieces)
FORMULAS = {
    "relu": lambda z: np.maximum(z, 0),
    "leaky-relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "maxout": lambda z: z.reshape(*z.shape[:-1], -1, 2).max(-1),
}


@pytest.mark.parametrize("activation", sorted(FORMULAS))
def test_mlp_computes_its_activation_by_value(activation):
    # One hidden layer, no BN or dropout: scores = W2 f(W1 x + b1) + b2 in numpy against the module.
    torch.manual_seed(1)
    config = MLPConfig(hidden=[6], activation=activation, batch_norm=False, dropout=0.0, input_dropout=0.0)
    model = MLPClassifier(config, identity_pipeline((1, 2, 2)), 3).double().eval()
    first = model.body[0].linear if activation == "maxout" else model.body[0]
    with torch.no_grad():
        first.bias.uniform_(-1, 1)  # biases start at zero: give them values so that a dropped bias shows
        model.out.bias.uniform_(-1, 1)
    x = torch.randn(7, 1, 2, 2, dtype=torch.float64) * 2  # both signs, some far from 0
    W1, b1 = first.weight.detach().numpy(), first.bias.detach().numpy()
    W2, b2 = model.out.weight.detach().numpy(), model.out.bias.detach().numpy()
    z = x.flatten(1).numpy() @ W1.T + b1
    assert (z < -0.5).any() and (z > 0.5).any()  # every branch of the piecewise ones is used
    expected = FORMULAS[activation](z) @ W2.T + b2
    np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_cnn_encoder_features_grid_and_formulas():
    encoder = CNNEncoder(CNNConfig(channels=[4, 6, 8]), (1, 28, 28))
    images = torch.rand(3, 1, 28, 28)
    encoder.eval()
    grid = encoder.grid(images)
    assert encoder.grid_shape == (3, 3) and grid.shape == (3, 9, 8)  # 28 -> 14 -> 7 -> 3
    torch.testing.assert_close(encoder(images), grid.mean(1))  # the features are the grid's average
    # location l of the grid is row l // w, column l % w of the last feature map
    fmap = encoder.feature_map(images)
    torch.testing.assert_close(grid[:, 5], fmap[:, :, 1, 2])
    conv = encoder.blocks[0].layers[0]
    assert sum(p.numel() for p in conv.parameters()) == 3 * 3 * 1 * 4  # (F·F·D)·K, no bias before BN


def test_encoder_save_load_and_freeze(tmp_path):
    encoder = CNNEncoder(CNNConfig(channels=[4, 8]), (1, 12, 12)).fit_normalization(torch.rand(20, 1, 12, 12))
    encoder.eval()
    images = torch.rand(2, 1, 12, 12)
    folder = encoder.save(tmp_path / "encoder")
    assert sorted(p.name for p in folder.iterdir()) == ["encoder.json", "model.safetensors"]
    loaded = CNNEncoder.load(tmp_path)  # a run folder with encoder/ works too
    torch.testing.assert_close(loaded(images), encoder(images))
    torch.testing.assert_close(loaded.input.mean, encoder.input.mean)  # its input statistics travel along
    # frozen blocks: no gradients, and batch norm keeps its running statistics in train mode
    assert loaded.freeze([0]) == [0]
    loaded.train()
    before = loaded.blocks[0].layers[1].running_mean.clone()
    loaded(torch.rand(4, 1, 12, 12)).sum().backward()
    assert all(p.grad is None for p in loaded.blocks[0].parameters())
    assert all(p.grad is not None for p in loaded.blocks[1].parameters())
    assert torch.equal(loaded.blocks[0].layers[1].running_mean, before)


def test_row_rnn_reads_rows_and_returns_the_last_state():
    model = RowRNNClassifier(
        RowRNNConfig(cell="gru", hidden=6), identity_pipeline((2, 5, 3), False), 4, (2, 5, 3)
    )
    images = torch.rand(3, 2, 5, 3)
    rows = model.rows(images)
    assert rows.shape == (3, 5, 6)  # T = H rows of C·W values
    torch.testing.assert_close(rows[:, 2, :3], images[:, 0, 2, :])  # channel 0 of row 2
    torch.testing.assert_close(rows[:, 2, 3:], images[:, 1, 2, :])
    outputs, _ = model.rnn(rows)
    model.eval()
    torch.testing.assert_close(model(images), model.out(outputs[:, -1]))  # many-to-one: h_T
    bi = RowRNNClassifier(
        RowRNNConfig(cell="lstm", hidden=6, bidirectional=True, layers=2),
        identity_pipeline((1, 5, 3), False),
        4,
        (1, 5, 3),
    ).eval()
    out, _ = bi.rnn(bi.rows(images[:, :1]))
    # forward direction's h_T is the last output; the backward direction's final state is at t = 1
    expected = torch.cat([out[:, -1, :6], out[:, 0, 6:]], 1)
    torch.testing.assert_close(bi(images[:, :1]), bi.out(expected))


def test_every_model_builds_from_its_config():
    for name in ("knn", "linear", "mlp", "cnn", "rnn"):
        config = ImageModelConfig(name=name)
        pipe = build_input_pipeline(name, (1, 28, 28))
        model = build_classifier(config, pipe, 10, (1, 28, 28))
        assert model.input is pipe or model.input is model.encoder.input


OVERFIT = {
    "knn": [],
    "linear": ["optim.lr=0.05", "train.steps=150"],
    "mlp": [
        "model.mlp.hidden=[64]",
        "model.mlp.dropout=0",
        "model.mlp.input_dropout=0",
        "model.mlp.label_smoothing=0",
        "train.steps=60",
        "optim.lr=0.01",
    ],
    "cnn": [
        "model.cnn.channels=[8,16]",
        "model.cnn.hidden=32",
        "model.cnn.dropout=0",
        "train.steps=60",
        "optim.lr=0.01",
        "train.precision=fp32",
    ],
    "rnn": ["model.rnn.hidden=48", "model.rnn.dropout=0", "train.steps=150", "optim.lr=0.01"],
}


@pytest.mark.parametrize("name", list(OVERFIT))
def test_every_model_overfits_50_images(name, idx_folder, tmp_path):
    """The notes' sanity check: 50 images, no regularisation -> (near) zero loss, all of them right."""
    overrides = [
        f"data.path={idx_folder}",
        "train.overfit=50",
        "data.flip=false",
        "data.translate=0",
        "train.progress=false",
        "schedule.warmup=0",
        "train.eval_every=1000",
        "train.log_every=5",
        *([] if name == "knn" else ["train.epochs=null"]),
        *OVERFIT[name],
    ]
    config = image_config({}, overrides, model=name)
    summary = train_image(config, tmp_path / name)
    events = read_metrics(tmp_path / name)
    val = [e for e in events if e["split"] == "val"][-1]
    assert val["accuracy"] == 1.0, (name, val)  # the validation set is the same 50 images
    if name != "knn":
        train = [e for e in events if e["split"] == "train"]
        assert train[-1]["loss"] < 0.1 * train[0]["loss"], (name, train[0]["loss"], train[-1]["loss"])
    assert summary["test_accuracy"] is not None
