"""Where and how training runs: device, precision, memory format, deterministic kernels, seeds."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

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


#: CPU flags (as Linux lists them in /proc/cpuinfo) of instruction sets that compute bfloat16 natively
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (or the given text); empty where there is none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:  # not Linux: no flags known
            return frozenset()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: Iterable[str] | None = None) -> bool:
    """True on CPUs whose instruction set computes bfloat16 natively (AVX512-BF16 or AMX-BF16).

    ``flags`` defaults to this CPU's (:func:`cpu_flags`); PyTorch 2.14 does not say it itself.
    """
    return not NATIVE_BF16_FLAGS.isdisjoint(cpu_flags() if flags is None else flags)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA with bf16 support, else ``fp32`` (the CPU included).

    ``auto`` stays fp32 on CPUs with native bf16 too: the default tables are reproducible in fp32
    on every CPU kind, and bf16 has not been measured faster for these small networks (the lab
    record, docs/benchmarks.md). ``bf16`` asks for it explicitly.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
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
