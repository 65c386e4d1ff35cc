
# The distributed trainer, part 1 of 2, the data: `dslc build --emit pytorch-train` appends
# this text and train_loop.py, unchanged, to the emitted module above; they use only that
# module's public names (MODEL, INPUTS, BATCH, EPOCHS, SEED, loss_function, optimizer, ...).
# Launch with
#   torchrun --nproc_per_node N train.py --data PATH --out DIR   (or `python train.py ...`).
# The data are read, scaled and split exactly as `dslc train` does (the same arithmetic in
# float32, a bit-exact port of nnspec's random generator), so `dslc eval` on the checkpoint
# finds the same test split and the same accuracy.
# (This text starts with a blank line: after the emitter's own, the two that a formatter
# wants after the module's last function.)
import argparse
import copy
import gzip
import inspect
import json
import os
import struct
import sys
import time
import zipfile
from decimal import Decimal

import torch.distributed as dist
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

M64 = (1 << 64) - 1
TEST_FRACTION = 0.2  # dslc's share held out of data without a test split
VALIDATION_STREAM = 0x5641_4C49_4441_5445  # validation_split's seed offset ("VALIDATE")
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


class UserError(Exception):
    """Bad data, flags or files: reported in one line, without a traceback."""


class Rng:
    """nnspec's generator (runtime/core/src/rng.rs), bit for bit: xoshiro256++ seeded by
    splitmix64. The test split is drawn with it, so it must match to the last bit."""

    def __init__(self, seed):
        state, sm = [], seed & M64
        for _ in range(4):
            sm = (sm + 0x9E3779B97F4A7C15) & M64
            z = ((sm ^ (sm >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            state.append(z ^ (z >> 31))
        self.s = state

    def next_u64(self):
        s = self.s
        total = (s[0] + s[3]) & M64
        result = ((((total << 23) | (total >> 41)) & M64) + s[0]) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & M64
        return result

    def below(self, n):
        """Uniform in [0, n) by Lemire's method, as `Rng::below`."""
        threshold = ((-n) & M64) % n
        while True:
            m = self.next_u64() * n
            if m & M64 >= threshold:
                return m >> 64

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def held_out_split(labels, classes, fraction, seed, part):
    """runtime/src/data/split.rs: a stratified split; returns (kept, held out) indices, each in
    the original order. The held-out part has ceil(fraction * n) samples, shared over the
    classes by largest remainder (ties to the lower class)."""
    n = len(labels)
    n_test = _ceil(n * fraction)
    if n_test == 0 or n_test >= n:
        raise UserError(
            f"splitting {n} samples with {part} fraction {fraction} leaves {n - min(n_test, n)} "
            f"training and {min(n_test, n)} {part} samples; both need at least one"
        )
    groups = max(classes, max(labels, default=-1) + 1)
    by_class = [[] for _ in range(groups)]
    for i, label in enumerate(labels):
        by_class[label].append(i)
    quota = [len(c) * n_test // n for c in by_class]
    order = sorted(range(groups), key=lambda c: -(len(by_class[c]) * n_test % n))
    for c in order[: n_test - sum(quota)]:
        quota[c] += 1
    rng, held = Rng(seed), [False] * n
    for members, q in zip(by_class, quota):
        rng.shuffle(members)
        for i in members[:q]:
            held[i] = True
    return [i for i in range(n) if not held[i]], [i for i in range(n) if held[i]]


def _ceil(x):
    whole = int(x)
    return whole + (whole < x)


def rust_float(x):
    """A float as Rust's `Display` writes it (shortest round trip, never an exponent), so the
    checkpoint's metadata reads as nnspec's own."""
    text = format(Decimal(repr(float(x))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def fingerprint(path):
    """runtime/src/data/fingerprint.rs: FNV-1a of each file's size and first and last 64 KiB."""
    files = idx_files(path) if os.path.isdir(path) else [path]
    edge, h, total = 64 * 1024, 0xCBF29CE484222325, 0
    for name in files:
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            chunks = [struct.pack("<Q", size), f.read(edge)]
            if size > edge:
                f.seek(max(size - edge, edge))
                chunks.append(f.read(edge))
        for byte in b"".join(chunks):
            h = ((h ^ byte) * 0x100000001B3) & M64
        total += size
    return f"fnv1a64:{h:016x}:{total}"


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError) as e:
        raise UserError(f"{path}: cannot read: {e}") from None


def idx_files(directory):
    found = []
    for name in IDX_FILES:
        present = [
            p
            for p in (name, name + ".gz")
            if os.path.isfile(os.path.join(directory, p))
        ]
        if len(present) != 1:
            problem = f"both {name} and {name}.gz exist" if present else "missing"
            raise UserError(
                f"{directory}: {name}: {problem} (looked for {name} and {name}.gz)"
            )
        found.append(os.path.join(directory, present[0]))
    return found


def load_idx(path, magic):
    data, ndims = read_bytes(path), magic & 0xFF
    if len(data) < 4 + 4 * ndims or struct.unpack(">I", data[:4])[0] != magic:
        raise UserError(
            f"{path}: not an IDX file (magic number 0x{magic:08x} and its sizes)"
        )
    dims = struct.unpack(f">{ndims}I", data[4 : 4 + 4 * ndims])
    body = data[4 + 4 * ndims :]
    count = 1
    for d in dims:
        count *= d
    if len(body) < count:
        raise UserError(
            f"{path}: holds {len(body)} of the {count} values its header declares"
        )
    values = torch.frombuffer(bytearray(body[:count]), dtype=torch.uint8)
    return values.reshape(dims[0], 1, *dims[1:]) if len(dims) == 3 else values


def parse_number(cell, path, line, column):
    # float() reads through f64; a decimal within half an f32 step of a tie could round
    # differently from Rust's direct f32 parse (no real data set has such a value).
    try:
        if "_" in cell or cell.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ValueError
        value = float(cell)
    except ValueError:
        raise UserError(
            f"{path}: line {line}, column {column}: {cell!r} is not a number"
        ) from None
    if abs(value) >= 3.4028235677973366e38:  # rounds to infinity as an f32
        raise UserError(
            f"{path}: line {line}, column {column}: {cell!r} is not a finite f32"
        )
    return value


def load_csv(path):
    """runtime/src/data/csv.rs: features then an integer label per line; a header of names, or
    scikit-learn's `rows,features,name0,...` (whose names become class names), is skipped."""
    try:
        text = read_bytes(path).decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte offset {e.start})") from None
    lines = [(i + 1, t) for i, t in enumerate(text.split("\n")) if t.strip()]
    if not lines:
        raise UserError(f"{path}: file is empty")

    def numeric(cell):
        try:
            return float(cell) is not None
        except ValueError:
            return False

    cells = [c.strip() for c in lines[0][1].split(",")]
    names = None
    scikit_learn = len(cells) >= 3 and cells[0].isdigit() and cells[1].isdigit()
    if scikit_learn and all(c and not numeric(c) for c in cells[2:]):
        names, lines = cells[2:], lines[1:]
    if names is None and all(c and not numeric(c) for c in cells):
        lines = lines[1:]
    if not lines:
        raise UserError(f"{path}: file has a header but no data rows")
    features, labels, width = [], [], None
    for line, row in lines:
        cells = [c.strip() for c in row.split(",")]
        width = width or len(cells)
        if len(cells) < 2 or len(cells) != width:
            raise UserError(
                f"{path}: line {line}: {len(cells)} columns, expected {width} (>= 2)"
            )
        features.extend(
            parse_number(c, path, line, k + 1) for k, c in enumerate(cells[:-1])
        )
        label = parse_number(cells[-1], path, line, len(cells))
        if label < 0 or label != int(label) or label > 65535:
            raise UserError(
                f"{path}: line {line}, column {len(cells)}: label {cells[-1]!r} is not a class "
                "number"
            )
        if names is not None and label >= len(names):
            raise UserError(
                f"{path}: line {line}: label {int(label)} is not below the header's {len(names)} "
                "class names"
            )
        labels.append(int(label))
    x = torch.tensor(features, dtype=torch.float32).reshape(len(labels), width - 1)
    return x, torch.tensor(labels), names


def load_npz(path, tokens):
    import numpy  # only .npz data need NumPy

    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # an .npz is a zip of .npy files
            raise UserError(f"{path}: not a NumPy .npz archive (not a zip file)")
    try:
        archive = numpy.load(path, allow_pickle=False)
        archive.files  # noqa: B018 (a zip that numpy cannot list fails here)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError) as e:
        raise UserError(f"{path}: not a NumPy .npz archive: {e}") from None
    keys = (
        ["x", "y"]
        if {"x", "y"} <= set(archive.files)
        else ["x_train", "y_train", "x_test", "y_test"]
    )
    if not set(keys) <= set(archive.files):
        raise UserError(
            f"{path}: has arrays {archive.files}; a data set needs x and y, or x_train, y_train, "
            "x_test and y_test"
        )
    parts, is_bytes = [], True
    for xk, yk in zip(keys[::2], keys[1::2]):
        try:
            x, y = archive[xk], archive[yk]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise UserError(f"{path}: {xk}/{yk}: not NumPy arrays: {e}") from None
        for name, array in ((xk, x), (yk, y)):
            if not isinstance(array, numpy.ndarray):  # a member that is not a .npy file
                raise UserError(
                    f"{path}: {name} is not a NumPy array (.npy) in the archive"
                )
        if x.dtype.kind == "f":  # as dslc: every feature finite as f32
            bad = numpy.flatnonzero(~numpy.isfinite(x.astype(numpy.float32)))
            if len(bad):
                raise UserError(
                    f"{path}: {xk}: element {bad[0]} is {x.reshape(-1)[bad[0]]}, not a finite "
                    "f32 value"
                )
        is_bytes &= x.dtype == numpy.uint8
        allowed = "iuf" if tokens else "fu"  # token ids: any integers, or whole floats
        if x.dtype.kind not in allowed or (
            x.dtype.kind == "u" and not tokens and x.dtype != numpy.uint8
        ):
            raise UserError(
                f"{path}: {xk}: features must be float32, float64 or uint8, not {x.dtype}"
            )
        if y.dtype.kind not in "iu" or y.shape not in ((len(x),), (len(x), 1)):
            raise UserError(
                f"{path}: {yk}: labels must be integers of shape [{len(x)}], not {y.dtype} "
                f"{list(y.shape)}"
            )
        if y.size and (y.min() < 0 or y.max() > 65535):
            raise UserError(f"{path}: {yk}: labels must be class numbers 0..65535")
        x = x.reshape(len(x), 1) if x.ndim == 1 else x
        parts.append(
            (
                torch.from_numpy(x.astype(numpy.float32)),
                torch.from_numpy(y.reshape(-1).astype(numpy.int64)),
            )
        )
    return parts, is_bytes


def load_data(path, scaling, seed, tokens):
    """dslc's session::load_data: (train, test, classes, class names, scaling), each part an
    (x, y) pair, scaled and split as `dslc train` does for the same flags."""
    names = None
    if os.path.isdir(path):
        files = idx_files(path)
        parts = [
            (load_idx(files[i], 0x803), load_idx(files[i + 1], 0x801)) for i in (0, 2)
        ]
        for (x, y), i in zip(parts, (0, 2)):
            if len(x) != len(y):
                raise UserError(
                    f"{files[i]} holds {len(x)} images but {files[i + 1]} holds {len(y)} labels"
                )
        parts = [(x.to(torch.float32), y.to(torch.int64)) for x, y in parts]
        names = list(FASHION_CLASSES) if "fashion" in path.lower() else None
        top, default = 255.0, "tutorial"
    elif path.lower().endswith(".npz"):
        parts, is_bytes = load_npz(path, tokens)
        top = (
            255.0
            if is_bytes
            else max(float(x.abs().max()) if x.numel() else 0.0 for x, _ in parts)
        )
        default = "tutorial" if is_bytes else "none"
    elif os.path.isfile(path):
        x, y, names = load_csv(path)
        parts, top, default = [(x, y)], float(x.abs().max()), "none"
    else:
        raise UserError(
            f"--data {path}: no such file or directory (give a directory of IDX files, a CSV or an "
            ".npz file)"
        )
    if tokens is not None:
        if scaling not in (None, "none"):
            raise UserError(
                f"--normalize {scaling}: the model's input is token ids, which are never scaled"
            )
        scaling = "none"
    scaling = scaling or default
    if scaling != "none" and top == 0.0:
        raise UserError(
            f"data {path}: every value is 0; nothing to scale (use --normalize none)"
        )
    parts = [(normalize(x, scaling, top), y) for x, y in parts]
    labels = torch.cat([y for _, y in parts])
    classes = len(names) if names else int(labels.max()) + 1 if len(labels) else 0
    if names and len(labels) and int(labels.max()) >= len(names):
        raise UserError(
            f"{path}: label {int(labels.max())} is not below its {len(names)} class names"
        )
    if len(parts) == 1:
        x, y = parts[0]
        kept, held = held_out_split(y.tolist(), classes, TEST_FRACTION, seed, "test")
        parts = [(x[kept], y[kept]), (x[held], y[held])]
    return parts[0], parts[1], classes, names, scaling


def normalize(x, scaling, top):
    """runtime/src/data/normalize.rs in float32: x / top, then (v - 0.5) / 0.5 for `tutorial`.
    Divided by full tensors, not scalars, so that every value is one IEEE division (as Rust's)."""
    if scaling == "none":
        return x
    x = x / torch.full_like(x, top)
    if scaling == "tutorial":
        half = torch.full_like(x, 0.5)
        x = (x - half) / half
    return x


def fit_to_model(part, shape, dtype, tokens, path, what):
    """Shapes one split like the model's input; token ids must be whole numbers in 0..TOKENS."""
    x, y = part
    size = 1
    for d in shape:
        size *= d
    if x[0].numel() != size:
        raise UserError(
            f"{path}: samples have shape {list(x.shape[1:])} ({x[0].numel()} values), which cannot "
            f"be reshaped to the model's input shape {list(shape)} ({size} values)"
        )
    x = x.reshape(len(x), *shape)
    if tokens is not None:
        bad = (
            ((x != x.round()) | (x < 0) | (x >= tokens)).reshape(len(x), -1).any(dim=1)
        )
        if bad.any():
            raise UserError(
                f"{path} ({what}): sample {int(bad.nonzero()[0])} holds a value that is not a "
                f"token id in 0..{tokens}"
            )
    return x.to(dtype), y
