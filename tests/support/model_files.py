"""Small real model files written by each format's own library, for the readiness tests.

Each writer imports its library lazily and returns the path written; callers skip with
``pytest.importorskip`` when the library is absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def torch_module() -> Any:
    """Import torch without tripping filterwarnings=error on its numpy warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch  # noqa: PLC0415 - optional dependency

    return torch


def write_torch(path: Path, obj: Any = None) -> Path:
    """``torch.save`` a small state dict (or ``obj``) as a zip checkpoint."""
    torch = torch_module()
    if obj is None:
        obj = {"layer.weight": torch.arange(64, dtype=torch.float32).reshape(8, 8)}
    torch.save(obj, path)
    return path


def write_onnx(
    path: Path, *, node_name: str = "add", initializer: bool = True, reverse: bool = False
) -> Path:
    """A two-node ONNX model built with onnx.helper (``reverse``: its nodes out of order)."""
    import numpy as np  # noqa: PLC0415 - optional dependency
    import onnx  # noqa: PLC0415 - optional dependency
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    inits = [numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])
    mid = helper.make_tensor_value_info("mid", TensorProto.FLOAT, [4, 4])
    nodes = [
        helper.make_node("Add", ["x", "w" if initializer else "x"], ["mid"], name=node_name),
        helper.make_node("Relu", ["mid"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes, "g", [x], [y], initializer=inits if initializer else [], value_info=[mid]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if reverse:  # out of topological order: parses, but the checker refuses it
        model.graph.node.reverse()
    onnx.save(model, str(path))
    return path


def write_gguf(path: Path, *, tensors: int = 1, key: str = "general.name") -> Path:
    """A GGUF file written by gguf's own writer (``tensors=0``: vocabulary only)."""
    import gguf  # noqa: PLC0415 - optional dependency
    import numpy as np  # noqa: PLC0415 - optional dependency

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string(key, "tiny")
    for index in range(tensors):
        writer.add_tensor(f"t{index}", np.arange(64, dtype=np.float32).reshape(8, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_safetensors(path: Path, *, tensors: int = 1) -> Path:
    """A safetensors file written by the safetensors library (numpy arrays)."""
    import numpy as np  # noqa: PLC0415 - optional dependency
    from safetensors.numpy import save_file  # noqa: PLC0415 - optional dependency

    arrays = {f"t{index}": np.arange(64, dtype=np.float32) for index in range(tensors)}
    save_file(arrays, str(path))
    return path
