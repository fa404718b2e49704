r"""Honest ``ready_for_inference``: real checks of model files, never a guess from a name.

The format of a file is detected from its *bytes and name together* (:func:`detect_format`),
once per file. Each format gets the strongest check that can run without executing anything the
file contains; where the format's own library is installed (``model_fetch[checks]``), it loads
the file (onnx and gguf in a sandboxed subprocess with a timeout and an address-space limit,
safetensors' Rust parser in-process) and its verdict stands, else the structural check runs
alone and ``checked`` says so:

``safetensors`` (:func:`check_safetensors`)
    ``safetensors.safe_open`` (``checked="safetensors.safe_open"``), else the header validated in
    full without reading any tensor (``safetensors.header``).
``torch-zip`` / ``torch-pickle`` (:func:`check_torch`)
    A torch zip's members are checked against their CRC-32 (``zip.crc``, one streamed read);
    then the file is loaded with ``torch.load(weights_only=True, map_location="cpu")`` in a
    subprocess (``torch.weights_only``). It is never retried with ``weights_only=False``; the
    globals a refused file needs are named; torch older than 2.6 is refused (CVE-2025-32434).
``torchscript``
    Loaded (``torch.jit.load``, ``torch.jit``) only with ``allow_torchscript=True``.
``gguf`` (:func:`check_gguf`)
    ``gguf.GGUFReader`` (``gguf.reader``), else the header, metadata and tensor table within the
    file's bounds, UTF-8 names (``gguf.header``). A tensor type the reader does not know is
    "unsupported", not invalid.
``onnx`` (:func:`check_onnx`)
    ``onnx.load`` and ``onnx.checker.check_model(full_check=True)`` (``onnx.checker``), else every
    nested message walked, UTF-8 strings, node order, op types, graph outputs
    (``onnx.structure``). External data must lie inside the model's directory either way.
every other file (:class:`PickleVerifier`, ``pickle.scan``)
    Searched for pickles (any protocol, zips, ``.npy``/``.npz`` object arrays, trainer files)
    whose globals lie outside the weights-only allow-list; such a file fails the model.

A file that holds nothing to run (no tensor; an ONNX graph without a node) is not ready. Formats
without a check (TFLite, HDF5, Keras, SavedModel, CoreML) are "no check for <format>"; content of
no known format under a model's name (HTML, JSON, text, a damaged zip) fails saying what it is.

Model-level readiness (:func:`check_model`) runs :class:`Verifier` objects over the model's
files. The built-in checks are verifiers too (``safetensors``, ``torch``, ``gguf``, ``onnx``,
``pickle`` and ``unrecognised``), registered in the same registry as third-party verifiers from
the ``model_fetch.verifiers`` entry-point group and those added with :func:`register_verifier`.

Modules: ``_detect`` (formats, once per file), ``_content`` (what unknown content is),
``_verifier`` (the interface), one module per format (``_safetensors``, ``_torch``, ``_gguf``,
``_onnx`` with ``_onnx_walk``), ``_library`` and ``_library_probe`` (the formats' libraries in a
subprocess), ``_sandbox`` (running a probe), ``_zipcrc``, ``_pickles`` and ``_pickle_verifier``,
``_accept``, ``_builtin``, ``_registry`` and ``_aggregate`` (the model's verdict).
"""

from model_fetch.install.checks._aggregate import check_model
from model_fetch.install.checks._builtin import (
    BUILTIN_VERIFIERS,
    BuiltinVerifier,
    UnrecognisedVerifier,
    check_file,
)
from model_fetch.install.checks._detect import (
    FORMATS,
    TORCH_FORMATS,
    ModelFile,
    detect_file,
    detect_format,
    is_auxiliary,
    is_weights,
)
from model_fetch.install.checks._gguf import GgufVerifier, check_gguf
from model_fetch.install.checks._onnx import OnnxVerifier, check_onnx
from model_fetch.install.checks._pickle_verifier import PickleVerifier
from model_fetch.install.checks._readiness import Readiness
from model_fetch.install.checks._registry import (
    ENTRY_POINT_GROUP,
    VerifierEntry,
    VerifierRegistry,
    available_verifiers,
    get_verifier,
    register_verifier,
    registry,
)
from model_fetch.install.checks._safetensors import SafetensorsVerifier, check_safetensors
from model_fetch.install.checks._torch import (
    MEMORY_FACTOR,
    MEMORY_HEADROOM,
    TorchVerifier,
    check_torch,
    installed_torch_version,
    memory_limit_for,
)
from model_fetch.install.checks._verifier import (
    DEFAULT_TORCH_TIMEOUT,
    CheckOptions,
    FileVerifier,
    FormatVerifier,
    Status,
    Verdict,
    Verifier,
)

__all__ = [
    "BUILTIN_VERIFIERS",
    "DEFAULT_TORCH_TIMEOUT",
    "ENTRY_POINT_GROUP",
    "FORMATS",
    "MEMORY_FACTOR",
    "MEMORY_HEADROOM",
    "TORCH_FORMATS",
    "BuiltinVerifier",
    "CheckOptions",
    "FileVerifier",
    "FormatVerifier",
    "GgufVerifier",
    "ModelFile",
    "OnnxVerifier",
    "PickleVerifier",
    "Readiness",
    "SafetensorsVerifier",
    "Status",
    "TorchVerifier",
    "UnrecognisedVerifier",
    "Verdict",
    "Verifier",
    "VerifierEntry",
    "VerifierRegistry",
    "available_verifiers",
    "check_file",
    "check_gguf",
    "check_model",
    "check_onnx",
    "check_safetensors",
    "check_torch",
    "detect_file",
    "detect_format",
    "get_verifier",
    "installed_torch_version",
    "is_auxiliary",
    "is_weights",
    "memory_limit_for",
    "register_verifier",
    "registry",
]
