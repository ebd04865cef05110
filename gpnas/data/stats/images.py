"""The ``data`` input of the statistics: a batch of real images, offline by default.

Default (no download, no dataset): the photograph that ships with matplotlib
(``mpl-data/sample_data/grace_hopper.jpg``, found with ``matplotlib.cbook.get_sample_data``).
Each image of the batch is a random square crop of it (side 30-100 % of the short side, random
position, random horizontal flip) resized to the space's input size with antialiasing -- a natural
image with natural statistics, which noise is not.

``images_path`` (``--images PATH``) takes real data when a user has it:

* CIFAR-10 / CIFAR-100 "python version" batches: a batch file (``data_batch_1``, ``test_batch``,
  ``train``, ``test``) or the folder holding them (``cifar-10-batches-py``).  They are pickles; they
  are read with an unpickler that admits numpy array reconstruction only (no code runs).
  Random rows are taken (resized when the space's input is not 32x32).
* a folder of image files (png, jpg, jpeg, bmp, gif, webp, ppm; searched recursively): random
  files, each cropped and resized as the default image.

Every batch is normalised with the space's dataset mean/std.  The same (space, batch size, seed,
path) always gives the same tensor.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gpnas.errors import GpnasError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm"}
CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
               "test_batch", "train", "test")
DEFAULT_IMAGE = "grace_hopper.jpg"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def describe_source(images_path: str | Path | None) -> str:
    """How a store records where its images came from."""
    if images_path is None:
        return f"matplotlib:{DEFAULT_IMAGE}"
    return str(Path(images_path).expanduser().resolve())


def _space_info(space_or_input_size):
    from gpnas.data.spaces import Space, get_space

    if isinstance(space_or_input_size, (str, Space)):
        sp = get_space(space_or_input_size)
        return tuple(sp.input_size), sp.mean, sp.std
    size = tuple(int(v) for v in space_or_input_size)
    if len(size) == 2:
        size = (3,) + size
    if len(size) != 3 or min(size) < 1:
        raise GpnasError(f"input size must be (C, H, W), got {space_or_input_size!r}")
    return size, _IMAGENET_MEAN, _IMAGENET_STD


def _read_image(path: Path) -> np.ndarray:
    """An image file -> float32 (H, W, 3) in [0, 1]."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except Exception as exc:  # PIL raises many kinds for bad files
        raise GpnasError(f"cannot read image {path}: {exc}") from None
    return arr


def _default_image() -> np.ndarray:
    try:
        import matplotlib.cbook as cbook

        path = Path(cbook.get_sample_data(DEFAULT_IMAGE, asfileobj=False))
    except Exception as exc:
        raise GpnasError(f"matplotlib's sample image {DEFAULT_IMAGE} is not available ({exc}); "
                         "pass --images PATH") from None
    return _read_image(path)


def _crop(img: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    """A random square crop (30-100 % of the short side), random flip, resized: (3, H, W)."""
    h, w = img.shape[:2]
    short = min(h, w)
    side = max(1, int(round(short * rng.uniform(0.3, 1.0))))
    top = int(rng.integers(0, h - side + 1))
    left = int(rng.integers(0, w - side + 1))
    patch = torch.from_numpy(np.ascontiguousarray(img[top:top + side, left:left + side]))
    patch = patch.permute(2, 0, 1).unsqueeze(0)
    if rng.random() < 0.5:
        patch = patch.flip(-1)
    return _resize(patch, size)[0]


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False,
                         antialias=True).clamp_(0.0, 1.0)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits the globals a pickled numpy array needs, nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        ("_codecs", "encode"): ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        target = self.ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        mod, attr = target
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):  # numpy 1.x names
            return getattr(importlib.import_module(mod.replace("numpy._core", "numpy.core")), attr)


def _read_cifar_batch(path: Path) -> np.ndarray:
    """A CIFAR python batch -> uint8 (N, 3, 32, 32)."""
    try:
        with open(path, "rb") as f:
            obj = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except OSError as exc:
        raise GpnasError(f"cannot read CIFAR batch {path}: {exc.strerror or exc}") from None
    except Exception as exc:
        raise GpnasError(f"{path} is not a readable CIFAR python batch ({exc})") from None
    data = None
    if isinstance(obj, dict):
        data = obj.get("data", obj.get(b"data"))
    if not isinstance(data, np.ndarray) or data.ndim not in (2, 4) or data.size % 3072:
        raise GpnasError(f"{path}: not a CIFAR python batch (needs a 'data' array of N x 3072 "
                         "uint8)")
    return data.reshape(-1, 3, 32, 32)


def _load_source(images_path: Path):
    """("cifar", uint8 array) or ("files", list of paths)."""
    p = images_path.expanduser()
    if not p.exists():
        raise GpnasError(f"--images: {p} does not exist")
    if p.is_file():
        if p.suffix.lower() in IMAGE_SUFFIXES:
            return "files", [p]
        return "cifar", _read_cifar_batch(p)
    batches = [p / n for n in CIFAR_FILES if (p / n).is_file()]
    if batches:
        return "cifar", np.concatenate([_read_cifar_batch(b) for b in batches])
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GpnasError(f"--images: {p} holds no CIFAR python batches ({', '.join(CIFAR_FILES)}) "
                         f"and no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return "files", files


def _normalise(x: torch.Tensor, c: int, mean: Sequence[float], std: Sequence[float]):
    if c == 1:
        x = x.mean(dim=1, keepdim=True)
        mean, std = [sum(mean) / 3], [sum(std) / 3]
    elif c != 3:
        raise GpnasError(f"image inputs need 1 or 3 channels, the model wants {c}")
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((x - m) / s).contiguous()


def sample_images(space_or_input_size, batch_size: int, seed: int,
                  images_path: str | Path | None = None) -> torch.Tensor:
    """A normalised float32 batch (batch_size, C, H, W) of real images for a space.

    ``space_or_input_size``: a space name / :class:`~gpnas.data.spaces.Space` (its input size and
    dataset mean/std) or a (C, H, W) size (ImageNet mean/std).
    """
    if int(batch_size) < 1:
        raise GpnasError(f"batch size must be at least 1, got {batch_size}")
    (c, h, w), mean, std = _space_info(space_or_input_size)
    rng = np.random.default_rng(int(seed))
    if images_path is None:
        img = _default_image()
        batch = torch.stack([_crop(img, (h, w), rng) for _ in range(batch_size)])
    else:
        kind, src = _load_source(Path(images_path))
        if kind == "cifar":
            rows = rng.choice(len(src), size=batch_size, replace=len(src) < batch_size)
            x = torch.from_numpy(src[np.sort(rows)].astype(np.float32) / 255.0)
            batch = _resize(x, (h, w))
        else:
            picks = rng.choice(len(src), size=batch_size, replace=len(src) < batch_size)
            batch = torch.stack([_crop(_read_image(src[int(i)]), (h, w), rng) for i in picks])
    return _normalise(batch.float(), c, mean, std)


__all__ = ["describe_source", "sample_images"]
