"""Data augmentation for image batches, in plain NumPy (no minigrad): each function takes a batch
``x`` of shape (N, C, H, W), a ``numpy.random.Generator`` and the ``fill`` value of a blank pixel,
draws one random transform per image, and returns a new float32 batch of the same shape.

- ``random_shift``:  move by up to ``max_shift`` pixels in x and y (torchvision: ``RandomCrop(H,
  padding=max_shift)``, which is the same thing: pad, then crop a window at a random offset);
- ``random_rotation``: rotate by an angle in [-max_degrees, max_degrees] about the image centre
  (torchvision: ``RandomRotation``), bilinear;
- ``random_resized_crop``: cut a random square window of ``min_side``..H pixels and stretch it back
  to H x W (a zoom in; torchvision: ``RandomResizedCrop`` with a square aspect), bilinear;
- ``random_hflip``: mirror left-right with probability ``p`` (torchvision: ``RandomHorizontalFlip``).
"""
import numpy as np


def random_shift(x, max_shift, rng, fill):
    """Shift each image by its own random (dy, dx) in [-max_shift, max_shift].

    Pad by ``max_shift`` with ``fill``, then crop an H x W window at a random offset: one
    fancy-indexing gather for the whole batch. ``max_shift <= 0`` returns ``x`` itself.
    """
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    s = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)), constant_values=fill)
    dy = rng.integers(0, 2 * s + 1, size=n)
    dx = rng.integers(0, 2 * s + 1, size=n)
    rows = (dy[:, None] + np.arange(h))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + np.arange(w))[:, None, None, :]  # (N, 1, 1, W)
    return padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]


def bilinear_sample(x, ys, xs, fill):
    """Read ``x`` (N, C, H, W) at real pixel coordinates ``ys, xs`` (N, H', W') (pixel i's centre is at
    i), bilinearly; points outside the image read ``fill``. Returns (N, C, H', W') float32."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill).astype(np.float32)
    ys = np.clip(ys + 1, 0, h + 1 - 1e-4)  # +1: the padding; outside -> the fill border
    xs = np.clip(xs + 1, 0, w + 1 - 1e-4)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h + 1), np.minimum(x0 + 1, w + 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[:, None]
    b = np.arange(n)[:, None, None, None]
    ch = np.arange(c)[None, :, None, None]

    def at(r, q):
        return padded[b, ch, r[:, None], q[:, None]]

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def random_rotation(x, max_degrees, rng, fill):
    """Rotate each image by a uniform random angle in [-max_degrees, max_degrees] about its centre."""
    n, _, h, w = x.shape
    theta = np.deg2rad(rng.uniform(-max_degrees, max_degrees, size=n))[:, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    gy, gx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    # output pixel p reads the input at R(-theta) p
    ys = np.cos(theta) * gy - np.sin(theta) * gx + cy
    xs = np.sin(theta) * gy + np.cos(theta) * gx + cx
    return bilinear_sample(x, ys, xs, fill)


def random_resized_crop(x, min_side, rng, fill):
    """Cut a random square of side in [min_side, H] (a real number) at a random position inside the
    image, and stretch it to H x W."""
    n, _, h, w = x.shape
    side = rng.uniform(min_side, h, size=n)[:, None, None]
    top = rng.uniform(0, h - side[:, 0, 0])[:, None, None]
    left = rng.uniform(0, w - side[:, 0, 0] * w / h)[:, None, None]
    gy, gx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    ys = top - 0.5 + (gy + 0.5) * side / h
    xs = left - 0.5 + (gx + 0.5) * side / h
    return bilinear_sample(x, ys, xs, fill)


def random_hflip(x, p, rng, fill=None):
    """Mirror each image left-right with probability ``p`` (``fill`` unused: nothing leaves the image)."""
    flip = rng.random(len(x)) < p
    out = x.copy()
    out[flip] = x[flip][..., ::-1]
    return out
