"""Load an installed model's weights into PyTorch, safely.

:func:`load_state_dict` finds the weights file of an installed model and loads it:

* safetensors files with ``safetensors.torch.load_file`` (the ``safetensors`` package must be
  installed);
* ``torch.save`` files (zip or legacy) with ``torch.load(weights_only=True)``. This module never
  passes ``weights_only=False``: a checkpoint that needs other globals is refused with their names,
  and only the caller can decide to trust it (``torch.serialization.add_safe_globals``).

TorchScript archives, ONNX and GGUF files are refused: they are not state dicts. torch (2.6 or
later, see CVE-2025-32434) is imported only when a function here is called.
"""

from __future__ import annotations

import importlib
import os
import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from model_fetch._log import get_logger
from model_fetch._models import ModelInfo
from model_fetch.exceptions import InvalidRequest, ModelNotFound
from model_fetch.install import MIN_TORCH, version_tuple
from model_fetch.install.checks import detect_format, is_auxiliary

if TYPE_CHECKING:
    from types import ModuleType

    from model_fetch._models import InstallResult

__all__ = ["WEIGHT_SUFFIXES", "find_weights_file", "load_state_dict"]

log = get_logger(__name__)

#: The suffixes :func:`find_weights_file` looks for in a directory.
WEIGHT_SUFFIXES: Final = (".safetensors", ".pt", ".pth", ".bin")

_TORCH_HINT: Final = "torch is not installed (pip install 'model_fetch[torch]')"


def _import_torch() -> ModuleType:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
            torch = importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(_TORCH_HINT) from exc
    version = str(getattr(torch, "__version__", "0"))
    if version_tuple(version) < MIN_TORCH:
        minimum = ".".join(map(str, MIN_TORCH))
        raise ImportError(
            f"torch {version} is too old to load untrusted files: weights_only=True can be "
            f"bypassed before {minimum} (CVE-2025-32434); pip install 'torch>={minimum}'"
        )
    return torch


def _location(installed: str | os.PathLike[str] | InstallResult | ModelInfo) -> Path:
    if isinstance(installed, str | os.PathLike):
        return Path(installed)
    file_path = Path(installed.file_path) if installed.file_path else None
    if file_path is not None and file_path.is_file():
        return file_path
    if installed.directory:
        return Path(installed.directory)
    if file_path is not None:
        return file_path
    raise ModelNotFound(
        "The install record names no file or directory",
        model_name=installed.name if isinstance(installed, ModelInfo) else installed.model_name,
        version=installed.version,
    )


def find_weights_file(installed: str | os.PathLike[str] | InstallResult | ModelInfo) -> Path:
    """Find the single weights file of an installed model.

    Args:
        installed: A weights file, a model directory, or an install result or model info.

    Returns:
        The file itself, or the one ``.safetensors``/``.pt``/``.pth``/``.bin`` file at the top of
        the directory (trainer state such as ``training_args.bin`` is not counted).

    Raises:
        ModelNotFound: The path does not exist, or the directory holds no weights file.
        InvalidRequest: The directory holds several weights files (pass the one to load).
    """
    location = _location(installed)
    if location.is_file():
        return location
    if not location.is_dir():
        raise ModelNotFound(f"No model at {location}", model_name=None, path=str(location))
    candidates = sorted(
        path
        for path in location.iterdir()
        if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES and not is_auxiliary(path)
    )
    if not candidates:
        raise ModelNotFound(
            f"No weights file ({', '.join(WEIGHT_SUFFIXES)}) in {location}",
            model_name=None,
            path=str(location),
        )
    if len(candidates) > 1:
        names = ", ".join(path.name for path in candidates)
        raise InvalidRequest(
            f"Several weights files in {location} ({names}); pass the path of the one to load",
            path=str(location),
            candidates=[str(path) for path in candidates],
        )
    return candidates[0]


def _load_safetensors(path: Path, map_location: Any) -> dict[str, Any]:
    try:
        safetensors_torch = importlib.import_module("safetensors.torch")
    except ImportError as exc:
        raise ImportError(
            f"{path.name} is a safetensors file and the safetensors package is not installed "
            "(pip install safetensors)"
        ) from exc
    if map_location is None:
        device = "cpu"
    elif isinstance(map_location, str | int) or type(map_location).__name__ == "device":
        device = str(map_location)
    else:
        raise InvalidRequest(
            "A safetensors file takes a device (a string or torch.device) as map_location",
            path=str(path),
        )
    loaded: dict[str, Any] = safetensors_torch.load_file(str(path), device=device)
    return loaded


def _unpickler_detail(message: str) -> str:
    _, found, rest = message.partition("WeightsUnpickler error:")
    lines = [line.strip() for line in (rest if found else message).splitlines() if line.strip()]
    return lines[0] if lines else "it holds objects weights_only does not allow"


def _load_torch(torch: ModuleType, path: Path, map_location: Any) -> dict[str, Any]:
    try:
        loaded = torch.load(str(path), weights_only=True, map_location=map_location)
    except pickle.UnpicklingError as exc:
        raise InvalidRequest(
            f"torch.load(weights_only=True) refused {path.name}: {_unpickler_detail(str(exc))}. "
            "model_fetch never loads with weights_only=False; if you trust the file, allowlist "
            "the globals it needs with torch.serialization.add_safe_globals",
            path=str(path),
        ) from None
    if not isinstance(loaded, Mapping):
        raise InvalidRequest(
            f"{path.name} holds a {type(loaded).__name__}, not a state dict", path=str(path)
        )
    return dict(loaded)


def load_state_dict(
    installed: str | os.PathLike[str] | InstallResult | ModelInfo,
    *,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """Load an installed model's weights as a state dict, never running code from the file.

    Args:
        installed: A weights file, a model directory (holding exactly one weights file), or the
            :class:`~model_fetch.InstallResult` or :class:`~model_fetch.ModelInfo` of an install.
        map_location: Where tensors go: a device for safetensors files; anything
            ``torch.load`` accepts for torch files.

    Returns:
        The state dict (parameter name to tensor, or whatever mapping the checkpoint holds).

    Raises:
        ImportError: torch (or, for a safetensors file, the safetensors package) is missing, or
            torch is older than 2.6.
        ModelNotFound: No weights file was found.
        InvalidRequest: Several weights files, a format that is not a state dict (TorchScript,
            ONNX, GGUF, unknown), or a checkpoint ``weights_only=True`` refuses.
    """
    path = find_weights_file(installed)
    fmt = detect_format(path)
    torch = _import_torch()
    log.debug("Loading %s (%s)", path, fmt)
    if fmt == "safetensors":
        return _load_safetensors(path, map_location)
    if fmt in {"torch-zip", "torch-pickle"}:
        return _load_torch(torch, path, map_location)
    if fmt == "torchscript":
        raise InvalidRequest(
            f"{path.name} is a TorchScript archive, which runs code when loaded; load it with "
            "torch.jit.load yourself if you trust it",
            path=str(path),
        )
    raise InvalidRequest(
        f"{path.name} is not a safetensors or PyTorch weights file (its content is {fmt})",
        path=str(path),
    )
