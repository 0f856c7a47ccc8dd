"""PyTorch reference of the ReNAS NAS-Bench-101 CIFAR-10 network, plus file helpers.

This module is a developer tool for producing reference values and benchmark numbers.
The Go engine does not depend on it or on PyTorch.

Contents:
  * RenasNet, the network, with submodule names that map onto the MindSpore
    parameter names used in the engine's safetensors files (see to_mindspore_names).
  * write_safetensors / read_safetensors, a minimal safetensors writer and reader.
  * read_cifar10_test_batch / preprocess_cifar10, the CIFAR-10 test-set reader.
"""

import json
import struct
import tarfile
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

# Trainable parameters (conv and linear weights, linear bias, BN gamma and beta)
# of RenasNet at the default width of 128.
WIDTH128_PARAMETER_COUNT = 4_442_506

BN_EPS = 1e-5
NUM_CLASSES = 10

CIFAR10_ARCHIVE = "/work/shared/cifar10/cifar-10-binary.tar.gz"
CIFAR10_TEST_MEMBER = "cifar-10-batches-bin/test_batch.bin"
CIFAR10_RECORD_BYTES = 1 + 3 * 32 * 32
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


class Cell(nn.Module):
    """One NAS-Bench-101 cell of the ReNAS architecture, C channels in and out.

    cbrK(a) = ReLU(BN(conv3x3_K(a))) with C -> C channels, and
    projK(a) = ReLU(BN(projK(a))) with a 1x1 conv from C to C/2 channels.
    The cell computes
        o1  = cat(proj1(maxpool3x3(x)), proj2(x))
        o2  = cbr1(o1)
        o3  = cbr2(cat(proj3(o2), proj4(x)))
        o4  = cbr3(x)
        out = cat(proj5(o3), proj6(o4))
    where every cat is along channels with the first operand first.
    """

    def __init__(self, channels):
        super().__init__()
        if channels % 2 != 0:
            raise ValueError(f"cell width must be even, got {channels}")
        half = channels // 2
        for k in (1, 2, 3):
            setattr(self, f"conv3x3_{k}", nn.Conv2d(channels, channels, 3, padding=1, bias=False))
            setattr(self, f"bn3x3_{k}", nn.BatchNorm2d(channels, eps=BN_EPS))
        for k in range(1, 7):
            setattr(self, f"proj{k}", nn.Conv2d(channels, half, 1, bias=False))
            setattr(self, f"bn{k}", nn.BatchNorm2d(half, eps=BN_EPS))
        # PyTorch pads max pooling with -inf, so padded values never win.
        self.maxpool = nn.MaxPool2d(3, stride=1, padding=1)
        self.relu = nn.ReLU()

    def cbr(self, k, a):
        conv = getattr(self, f"conv3x3_{k}")
        bn = getattr(self, f"bn3x3_{k}")
        return self.relu(bn(conv(a)))

    def proj(self, k, a):
        conv = getattr(self, f"proj{k}")
        bn = getattr(self, f"bn{k}")
        return self.relu(bn(conv(a)))

    def forward(self, x):
        o1 = torch.cat([self.proj(1, self.maxpool(x)), self.proj(2, x)], dim=1)
        o2 = self.cbr(1, o1)
        o3 = self.cbr(2, torch.cat([self.proj(3, o2), self.proj(4, x)], dim=1))
        o4 = self.cbr(3, x)
        return torch.cat([self.proj(5, o3), self.proj(6, o4)], dim=1)


class RenasNet(nn.Module):
    """The ReNAS-searched NAS-Bench-101 network for 32x32 RGB inputs.

    Stem (3x3 conv, BN, ReLU), three stacks of three cells with a 2x2 max pool
    (stride 2) after the first and second stack, then 8x8 average pooling and a
    linear layer to 10 logits.
    """

    def __init__(self, width=128):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=BN_EPS)
        self.relu = nn.ReLU()
        self.block1 = nn.Sequential(*[Cell(width) for _ in range(3)])
        self.block2 = nn.Sequential(*[Cell(width) for _ in range(3)])
        self.block3 = nn.Sequential(*[Cell(width) for _ in range(3)])
        self.downsample = nn.MaxPool2d(2, stride=2)
        self.avgpool = nn.AvgPool2d(8)
        self.linear = nn.Linear(width, NUM_CLASSES)

    def forward_stages(self, x):
        """Run the network and return (logits, stages).

        stages maps "stem", "stack1", "stack2" and "stack3" to the output of that
        stage, each taken before the max pool that follows it.
        """
        stages = OrderedDict()
        x = self.relu(self.bn1(self.conv1(x)))
        stages["stem"] = x
        x = self.block1(x)
        stages["stack1"] = x
        x = self.block2(self.downsample(x))
        stages["stack2"] = x
        x = self.block3(self.downsample(x))
        stages["stack3"] = x
        x = torch.flatten(self.avgpool(x), 1)
        return self.linear(x), stages

    def forward(self, x):
        logits, _ = self.forward_stages(x)
        return logits


def count_trainable_parameters(model):
    """Return the number of elements in parameters that require gradients.

    BN running statistics are buffers, so they are not counted.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# PyTorch BatchNorm state_dict suffix -> MindSpore BatchNorm2d parameter suffix.
_BN_SUFFIXES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def to_mindspore_names(model):
    """Return an OrderedDict of MindSpore parameter name -> tensor for model.

    Module paths are already the MindSpore ones (conv1, bn1, block{s}.{i}.proj{k},
    linear and so on), so only the suffixes of BatchNorm entries change:
    weight -> gamma, bias -> beta, running_mean -> moving_mean,
    running_var -> moving_variance. BatchNorm's num_batches_tracked counter has
    no MindSpore counterpart and is dropped. Entries keep state_dict order.
    """
    bn_modules = {name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)}
    renamed = OrderedDict()
    for key, tensor in model.state_dict().items():
        module_name, _, suffix = key.rpartition(".")
        if module_name in bn_modules:
            if suffix == "num_batches_tracked":
                continue
            suffix = _BN_SUFFIXES[suffix]
        renamed[f"{module_name}.{suffix}"] = tensor
    return renamed


def load_mindspore_names(model, tensors):
    """Copy tensors keyed by MindSpore names (as from to_mindspore_names) into model.

    Raises KeyError naming the first missing or unexpected parameter.
    """
    expected = to_mindspore_names(model)
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise KeyError(f"missing parameter {missing[0]!r} ({len(missing)} missing in all)")
    unexpected = [name for name in tensors if name not in expected]
    if unexpected:
        raise KeyError(f"unexpected parameter {unexpected[0]!r} ({len(unexpected)} unexpected in all)")
    with torch.no_grad():
        for name, target in expected.items():
            source = torch.as_tensor(np.asarray(tensors[name]))
            if tuple(source.shape) != tuple(target.shape):
                raise ValueError(
                    f"parameter {name!r} has shape {list(source.shape)}, expected {list(target.shape)}"
                )
            target.copy_(source)


# safetensors dtype name -> little-endian numpy dtype.
_SAFETENSORS_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
}


def write_safetensors(path, tensors):
    """Write tensors, a mapping of name -> (array, dtype name), as a safetensors file.

    dtype name is a key of _SAFETENSORS_DTYPES, for example "F32" or "I64", and
    the array is converted to it. The layout follows the safetensors format: an
    8-byte little-endian header length, a JSON header mapping each name to
    {"dtype", "shape", "data_offsets": [begin, end]} with offsets relative to the
    start of the data section, then the raw little-endian tensor bytes packed in
    header order. The header is padded with spaces to a multiple of 8 bytes.
    The output depends only on the arguments, so equal inputs give identical bytes.
    """
    header = OrderedDict()
    chunks = []
    offset = 0
    for name, (array, dtype_name) in tensors.items():
        if dtype_name not in _SAFETENSORS_DTYPES:
            raise ValueError(f"tensor {name!r}: unsupported dtype {dtype_name!r}")
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().numpy()
        data = np.ascontiguousarray(np.asarray(array), dtype=_SAFETENSORS_DTYPES[dtype_name])
        raw = data.tobytes()
        header[name] = OrderedDict(
            [
                ("dtype", dtype_name),
                ("shape", list(data.shape)),
                ("data_offsets", [offset, offset + len(raw)]),
            ]
        )
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for raw in chunks:
            f.write(raw)


def read_safetensors(path):
    """Read a safetensors file into an OrderedDict of name -> numpy array.

    Supports the dtypes in _SAFETENSORS_DTYPES and checks that the data offsets
    tile the data section without gaps or overlap.
    """
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8 : 8 + header_len].decode("utf-8"), object_pairs_hook=OrderedDict)
    data = memoryview(blob)[8 + header_len :]
    tensors = OrderedDict()
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if end - begin != count * dtype.itemsize:
            raise ValueError(f"tensor {name!r}: data_offsets {begin}..{end} do not match shape {entry['shape']}")
        spans.append((begin, end))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(entry["shape"]).copy()
    spans.sort()
    position = 0
    for begin, end in spans:
        if begin != position:
            raise ValueError(f"{path}: data section has a gap or overlap at byte {position}")
        position = end
    if position != len(data):
        raise ValueError(f"{path}: data section is {len(data)} bytes, tensors cover {position}")
    return tensors


def read_cifar10_test_batch(archive=CIFAR10_ARCHIVE, count=None):
    """Read CIFAR-10 test images straight from the binary-version .tar.gz.

    Returns (images, labels): images is uint8 [N, 3, 32, 32] in RGB order with rows
    top to bottom, labels is int64 [N]. count limits N to the first count records
    of test_batch.bin (all 10,000 when None).
    """
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(CIFAR10_TEST_MEMBER)
        if member is None:
            raise FileNotFoundError(f"{CIFAR10_TEST_MEMBER} is not a regular file in {archive}")
        raw = member.read() if count is None else member.read(count * CIFAR10_RECORD_BYTES)
    if len(raw) % CIFAR10_RECORD_BYTES != 0:
        raise ValueError(f"{CIFAR10_TEST_MEMBER}: {len(raw)} bytes is not a whole number of records")
    if count is not None and len(raw) != count * CIFAR10_RECORD_BYTES:
        raise ValueError(f"{CIFAR10_TEST_MEMBER}: requested {count} records, found {len(raw) // CIFAR10_RECORD_BYTES}")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR10_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    images = records[:, 1:].reshape(-1, 3, 32, 32).copy()
    return images, labels


def preprocess_cifar10(images):
    """Normalize uint8 [N, 3, H, W] images to float32 network input.

    Every step runs in float32: v = x / 255, then (v - mean[c]) / std[c] with the
    per-channel CIFAR10_MEAN and CIFAR10_STD.
    """
    v = images.astype(np.float32) / np.float32(255)
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR10_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    return ((v - mean) / std).astype(np.float32)
