r"""Honest ``ready_for_inference``: real checks of model files, never a guess from a name.

The format of a file is detected from its *bytes* (:func:`detect_format`), never from its
extension, once per file, and each format gets the strongest check that can run without
executing anything the file contains:

``safetensors`` (:func:`check_safetensors`, ``checked="safetensors.header"``)
    The header is parsed and validated in full without reading any tensor: size limits, known
    dtypes, shapes of non-negative integers, and ``data_offsets`` that match each shape exactly,
    start at 0, leave no gap or overlap, and end exactly at the end of the file.
``torch-zip`` / ``torch-pickle`` (:func:`check_torch`, ``checked="torch.weights_only"``)
    The file is really loaded with ``torch.load(weights_only=True, map_location="cpu")`` (``mmap``
    for zip checkpoints) in a **subprocess** with a timeout and an address-space limit. It is never
    retried with ``weights_only=False``. When the allowlisting unpickler refuses the file, the
    globals it needs are named (``get_unsafe_globals_in_checkpoint`` or a static opcode scan); the
    code they would run never runs. torch older than 2.6 is refused (CVE-2025-32434).
``torchscript``
    Loading TorchScript runs the archive's code, so it is loaded (``torch.jit.load``, in the same
    sandboxed subprocess, ``checked="torch.jit"``) only with ``allow_torchscript=True``.
``gguf`` (:func:`check_gguf`, ``checked="gguf.header"``)
    Magic, version 2 or 3, sane counts, every metadata key/value and tensor description parsed
    within the file's bounds, ``general.alignment`` honoured, and every tensor's data at the
    offset llama.cpp expects, of the size its GGML type and shape imply, inside the file. A tensor
    of a GGML type this check does not know makes the file not ready (its size cannot be verified).
``onnx`` (:func:`check_onnx`, ``checked="onnx.structure"``)
    The protobuf wire structure of the whole ``ModelProto`` is walked (every top-level field
    well-formed and inside the file, nothing trailing), ``ir_version`` and a ``graph`` are present,
    and ``opset_import`` too for IR version 3 and later. The graph's fields are walked the same way,
    and every initializer stored as external data must name a file inside the model's directory
    that exists and is long enough for its ``offset``/``length``. Operators are **not** validated:
    this proves the file is complete and well-framed, not that a runtime accepts the graph.

Any other content gets ``ready=False`` with ``checked=None`` and ``reason="no check for format
..."``.

Detection rules (:func:`detect_format`), in this order:

1. ``GGUF`` magic -> ``gguf``.
2. A zip (``PK\x03\x04``) with a ``constants.pkl`` record or a ``code/`` directory ->
   ``torchscript``; otherwise with a record ending in ``data.pkl`` -> ``torch-zip``.
3. ``\x80`` followed by protocol 2-5 -> ``torch-pickle`` (any pickle: it is what ``torch.load``
   would unpickle).
4. An 8-byte little-endian header length N with ``2 <= N <= size - 8`` followed by ``{`` ->
   ``safetensors``.
5. A protobuf whose first field is field 1 (``ir_version``) as a varint in 1..100, followed by
   another well-formed tag -> ``onnx``. The extension is not used: ``.onnx`` alone is not enough,
   and an ONNX file with another name is still found.

Model-level readiness (:func:`check_model`) runs :class:`Verifier` objects over the model's
files. The built-in checks are verifiers too, one per format (``safetensors``, ``torch``,
``gguf``, ``onnx``, and ``unrecognised`` for weights files of no known format), registered in the
same registry as third-party verifiers from the ``model_fetch.verifiers`` entry-point group and
those added with :func:`register_verifier`.

Modules: ``_detect`` (formats, once per file), ``_verifier`` (the interface), one module per
format (``_safetensors``, ``_torch``, ``_gguf``, ``_onnx``), ``_builtin`` (the built-ins
together), ``_registry`` and ``_aggregate`` (the model's verdict).
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
