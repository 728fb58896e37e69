"""Model runtimes: each turns a local artifact into something that predicts on numpy arrays."""

from .base import Runtime, RuntimeLoadError

__all__ = ["Runtime", "RuntimeLoadError", "load_runtime"]


def load_runtime(model_format: str, path: str, onnx_threads: int = 1) -> Runtime:
    # Each format's library is imported only when that format is served.
    if model_format == "sklearn":
        from .sklearn_model import SklearnRuntime

        return SklearnRuntime.load(path)
    if model_format == "onnx":
        from .onnx_model import OnnxRuntime

        return OnnxRuntime.load(path, threads=onnx_threads)
    raise RuntimeLoadError(f"unsupported model format {model_format!r}")
