"""ONNX models: the initializers (weights) of a ``.onnx`` file, through the ``onnx`` package (imported lazily)."""

__all__ = ["read_onnx"]


def read_onnx(path):
    """``{initializer name: array}`` of the model at ``path``, in graph order (ImportError without onnx)."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path, load_external_data=False)
    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
