"""Read a legacy (non-zip) PyTorch `.pt` state dict into numpy arrays, without torch.

The peer's SuperNNova weights were saved by `torch.save` in the pre-1.6 format: five pickles in a row
(magic number, protocol, system info, the state dict with persistent ids for storages, the storage
keys) followed by each storage's raw bytes. A restricted unpickler maps `OrderedDict` and torch's
tensor-rebuild function to plain numpy views, and refuses every other class, so no pickled code runs.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from siskin.science.base import ScienceError

_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands in for `torch.FloatStorage` & co: only its numpy dtype matters."""

    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_DTYPES[name])


class _Storage:
    """A storage named in the pickle; its bytes are filled in after the pickles are read."""

    def __init__(self, dtype: np.dtype[Any], size: int) -> None:
        self.dtype = dtype
        self.size = size
        self.data: np.ndarray[Any, Any] | None = None


class _PendingTensor:
    """A tensor view (storage, offset, shape, strides) resolved once the storage bytes are known."""

    def __init__(self, storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...]):
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.stride = stride

    def array(self) -> np.ndarray[Any, Any]:
        data = self.storage.data
        if data is None:
            raise ScienceError("a tensor's storage is missing from the .pt file")
        item = data.dtype.itemsize
        return np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.shape, strides=tuple(s * item for s in self.stride)
        ).copy()


def _rebuild_tensor_v2(storage: _Storage, offset: int, size: Any, stride: Any, *_: Any) -> _PendingTensor:
    return _PendingTensor(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


class _Restricted(pickle.Unpickler):
    def __init__(self, handle: io.BufferedIOBase, storages: dict[str, _Storage]) -> None:
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise ScienceError(f"refusing to load {module}.{name} from a .pt file")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key, _location, size = pid[:5]
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise ScienceError(f"unexpected persistent id {pid!r} in a .pt file")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(size))
        return self.storages[key]


def read_state_dict(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """The tensors of a legacy-format `torch.save`d state dict, by name, as numpy arrays."""
    with path.open("rb") as handle:
        storages: dict[str, _Storage] = {}
        unpickler = _Restricted(handle, storages)  # type: ignore[arg-type]
        if unpickler.load() != _MAGIC:
            raise ScienceError(f"{path} is not a legacy-format PyTorch file")
        unpickler.load()  # protocol version
        unpickler.load()  # system info (endianness, type sizes)
        state = unpickler.load()
        keys = unpickler.load()
        for key in keys:
            storage = storages[key]
            (numel,) = struct.unpack("<q", handle.read(8))
            raw = handle.read(numel * storage.dtype.itemsize)
            if len(raw) != numel * storage.dtype.itemsize:
                raise ScienceError(f"{path} is truncated")
            storage.data = np.frombuffer(raw, dtype=storage.dtype.newbyteorder("<"))
    if not isinstance(state, dict):
        raise ScienceError(f"{path} does not hold a state dict")
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name, value in state.items():
        if not isinstance(value, _PendingTensor):
            raise ScienceError(f"{path}: {name} is not a tensor")
        out[str(name)] = value.array()
    return out
