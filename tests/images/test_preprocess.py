"""Preprocessing (centring, scaling, PCA, whitening), features (HOG, histogram) and augmentation."""

import math

import numpy as np
import pytest
import torch

from rnnlab.data.images import augment, to_float
from rnnlab.errors import UserError
from rnnlab.models.features import HOG, InputPipeline, IntensityHistogram


def random_images(n=64, shape=(1, 8, 8), seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype(np.uint8))


def test_mean_image_and_std_come_from_training_images_only():
    train = random_images(64)
    pipe = InputPipeline((1, 8, 8), center="image", scale=True).fit(train)
    x = to_float(train).flatten(1)
    torch.testing.assert_close(pipe.mean, x.mean(0))
    torch.testing.assert_close(pipe(to_float(train)).mean(0), torch.zeros(64), atol=1e-5, rtol=0)
    torch.testing.assert_close(pipe(to_float(train)).std(0), torch.ones(64), atol=1e-4, rtol=0)
    # other images are transformed with the training statistics, not their own
    other = to_float(random_images(16, seed=1))
    torch.testing.assert_close(pipe(other), (other.flatten(1) - x.mean(0)) / x.std(0))


def test_per_channel_centring_keeps_the_image_shape():
    train = random_images(32, shape=(3, 6, 6))
    pipe = InputPipeline((3, 6, 6), center="channel", scale=True, flatten=False).fit(train)
    x = to_float(train)
    assert pipe(x).shape == (32, 3, 6, 6)
    torch.testing.assert_close(pipe.mean[:, 0, 0], x.mean((0, 2, 3)))
    torch.testing.assert_close(pipe.mean[:, 3, 2], x.mean((0, 2, 3)))  # one number per channel
    torch.testing.assert_close(pipe(x).mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    with pytest.raises(UserError, match="vectors"):
        InputPipeline((3, 6, 6), pca=4, flatten=False)


def test_pca_and_whitening():
    rng = np.random.default_rng(0)
    # 2-D structure in 16 dimensions: most of the variance in two directions
    latent = rng.normal(size=(500, 2)) * np.array([5.0, 2.0])
    basis = np.linalg.qr(rng.normal(size=(16, 16)))[0][:2]
    data = latent @ basis + 0.01 * rng.normal(size=(500, 16))
    images = torch.from_numpy(data.reshape(500, 1, 4, 4)).float()
    pca = InputPipeline((1, 4, 4), center="image", scale=False, pca=2).fit(images)
    components = pca.components
    torch.testing.assert_close(components.T @ components, torch.eye(2), atol=1e-5, rtol=0)  # orthonormal
    projected = pca(images)
    assert projected.shape == (500, 2)
    variances = projected.var(0)
    assert variances[0] > variances[1] and math.isclose(float(variances[0]), 25, rel_tol=0.2)
    white = InputPipeline((1, 4, 4), center="image", scale=False, pca=2, whiten=True).fit(images)
    torch.testing.assert_close(white(images).var(0), torch.ones(2), atol=0.01, rtol=0)
    with pytest.raises(UserError, match="more components"):
        InputPipeline((1, 4, 4), pca=17)


def test_hog_shape_and_invariance_to_brightness():
    images = to_float(random_images(4, shape=(1, 28, 28)))
    hog = HOG()
    features = hog(images)
    assert features.shape == (4, hog.output_size(28, 28)) == (4, 324)  # 3·3 blocks × 2·2 cells × 9 bins
    torch.testing.assert_close(hog(images * 0.5), features, atol=1e-4, rtol=0)  # block normalisation
    assert float(features.max()) <= 1.0


def test_hog_of_a_vertical_edge_votes_for_the_horizontal_gradient():
    image = torch.zeros(1, 1, 28, 28)
    image[..., 14:] = 1.0  # dark left, bright right: the gradient points along x, θ = 0
    cells = HOG(block=1)(image).view(4, 4, 9)  # (cells y, cells x, bins) with blocks of one cell
    votes = cells.sum((0, 1))
    assert int(votes.argmax()) in (0, 8)  # the bins either side of θ = 0 (bin centres at ±10°)
    assert float(votes[3:6].sum()) < 1e-6  # nothing near 90°


def test_intensity_histogram():
    images = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])
    hist = IntensityHistogram(bins=5)(images)
    torch.testing.assert_close(hist, torch.tensor([[0.25, 0, 0, 0, 0.75]]))
    assert torch.allclose(
        IntensityHistogram()(torch.rand(3, 2, 5, 5)).view(3, 2, 16).sum(-1), torch.ones(3, 2)
    )


def test_feature_pipelines_for_vector_models():
    images = random_images(20, shape=(1, 28, 28))
    for features, size in (("hog", 324), ("histogram", 16), ("hog+histogram", 340)):
        pipe = InputPipeline((1, 28, 28), features=features).fit(images)
        assert pipe(to_float(images[:3])).shape == (3, size) and pipe.output_shape == (size,)
    with pytest.raises(UserError, match="features"):
        InputPipeline((1, 28, 28), features="sift")


def test_augment_translates_and_flips_exactly():
    image = torch.arange(25.0).view(1, 1, 5, 5)
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(40):
        shifted = augment(image, generator, translate=1)
        # every output is the input moved by (dy, dx) in {-1, 0, 1}², zeros filling the gap
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if torch.equal(
                shifted,
                torch.roll(torch.nn.functional.pad(image, (1, 1, 1, 1)), (dy, dx), (2, 3))[..., 1:-1, 1:-1],
            )
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 9
    flips = [augment(image, generator, flip=True) for _ in range(20)]
    assert all(torch.equal(f, image) or torch.equal(f, image.flip(-1)) for f in flips)
    assert any(torch.equal(f, image.flip(-1)) for f in flips) and any(torch.equal(f, image) for f in flips)
    # the same generator state gives the same augmentation (exact resume)
    batch = torch.rand(8, 1, 6, 6)
    a = augment(batch, torch.Generator().manual_seed(3), 2, True)
    b = augment(batch, torch.Generator().manual_seed(3), 2, True)
    assert torch.equal(a, b)


def test_augment_of_a_share_equals_the_same_rows_of_the_whole_batch():
    # Under DDP each rank augments its rows of the global batch; every image must get the shift and
    # flip that it gets in a single process (the same generator state on every rank).
    images = torch.rand(10, 1, 6, 6)
    whole = augment(images, torch.Generator().manual_seed(4), translate=2, flip=True)
    for start, stop in ((0, 5), (5, 10), (3, 4)):
        share = augment(images[start:stop], torch.Generator().manual_seed(4), translate=2, flip=True,
                        part=(start, len(images)))
        assert torch.equal(share, whole[start:stop])
    # without `part`, a share's draws are the first rows' draws: not the same images
    naive = augment(images[5:], torch.Generator().manual_seed(4), translate=2, flip=True)
    assert not torch.equal(naive, whole[5:])
