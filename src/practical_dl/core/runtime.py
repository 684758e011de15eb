"""Where and how training runs: device, precision, memory format, deterministic kernels, seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; other names are taken as given."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} was asked for, but MPS is not available on this machine")
    return device


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose instruction set computes bfloat16 natively (AVX512-BF16 or AMX)."""
    cpu = getattr(torch._C, "_cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, c, lambda: False)()) for c in checks) if cpu is not None else False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA with bf16 support and on CPUs with native bf16, else ``fp32``."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def resolve_memory_format(memory_format: str, device: torch.device, precision: str) -> torch.memory_format:
    """``auto`` -> ``channels_last`` on CUDA and on the CPU, contiguous on MPS.

    oneDNN's CPU convolutions are fastest in NHWC too (measured in docs/benchmarks.md).
    """
    if memory_format == "auto":
        memory_format = "contiguous" if device.type == "mps" else "channels_last"
    return torch.channels_last if memory_format == "channels_last" else torch.contiguous_format


def autocast_context(device: torch.device, precision: str):
    """Autocast for bf16, a no-op for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def use_deterministic_kernels(enabled: bool, device: torch.device) -> Iterator[None]:
    """On CUDA, ``enabled`` makes training bit-reproducible: deterministic algorithms only
    (``torch.use_deterministic_algorithms``; an op without one raises and names itself), cuDNN's
    deterministic kernels without autotuning, and the cuBLAS workspace setting that its
    deterministic mode needs (``CUBLAS_WORKSPACE_CONFIG``, effective when set before the first
    matrix product of the process). Off, cuDNN autotunes (``benchmark``): faster, and the same seed
    may give results that differ in the last bits. The previous settings come back afterwards.
    On the CPU the engine's training is deterministic either way."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[1], before[2]


def set_seed(seed: int) -> None:
    """Seed torch (CPU and CUDA) and numpy's legacy global state."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
