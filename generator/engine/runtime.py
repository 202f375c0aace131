"""Where and how the network runs: a private leaky copy on the device, precision, memory layout.

Nothing here is global: the device travels inside :class:`PreparedModel`, and the
numerics flags (TF32, cuDNN autotuning) are set only for the duration of a batch
(:func:`numerics`).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from generator.engine.settings import EngineSettings
from generator.engine.slopes import phase_relus, set_leaking, with_phase_relus
from generator.engine.truncate import TruncatedNetwork, own_code_copy
from generator.errors import AtlasError

# Rows per batch on the CPU when the settings leave it open: large enough to amortise the
# Python overhead of a step, small enough for the VGG-16 fusion net in a few GiB.
CPU_BATCH_SIZE = 16
# Largest automatic batch on CUDA, and the fraction of free memory it may plan to use.
MAX_AUTO_BATCH = 256
MEMORY_FRACTION = 0.8


@dataclass
class RunMemory:
    """What one prepared model learns during a run and keeps for the rest of it.

    ``networks``: the truncated network of each cut module (compiled ones keep their graphs);
    ``functions``: compiled element-wise functions per use site (an input's regularisers, its
    update); ``batch_rows``: the automatic batch size per layer (sized once, never probed
    again); ``max_rows``: per layer, the batch size an out-of-memory error was halved to,
    a limit on every later batch of the layer; ``compile_failure``: why compilation was
    given up, after which every network runs eagerly.
    """

    networks: dict[str, Callable[..., Tensor]] = field(default_factory=dict)
    functions: dict[tuple[str, ...], Callable[..., Any]] = field(default_factory=dict)
    batch_rows: dict[str, int] = field(default_factory=dict)
    max_rows: dict[str, int] = field(default_factory=dict)
    compile_failure: str | None = None


@dataclass(frozen=True)
class PreparedModel:
    """A private copy of a model ready for optimisation; the caller's model is never touched.

    ``module`` has :class:`~generator.engine.slopes.PhaseReLU` activations (leaking with
    ``leaky_slope`` until :func:`own_relus` gives them the slopes of the caller's model),
    is in eval mode, has frozen parameters and lives on ``device``. ``relu_slopes`` lists
    the caller's slope per activation. ``compile_options`` (None: eager) are the
    ``torch.compile`` arguments of every truncated network (see :meth:`network`).
    """

    module: nn.Module
    device: torch.device
    leaky_slope: float
    relu_slopes: tuple[tuple[str, float], ...]
    channels_last: bool
    compile_options: dict[str, Any] | None = None
    memory: RunMemory = field(default_factory=RunMemory, compare=False)

    def network(self, module_path: str) -> Callable[..., Tensor]:
        """The network cut at ``module_path`` (a :class:`TruncatedNetwork`), made once per run;
        compiled when the settings ask for it, with the fallback of :class:`CompiledOrEager`."""
        networks = self.memory.networks
        if module_path not in networks:
            eager = TruncatedNetwork(self.module, module_path)
            if self.compile_options is None:
                networks[module_path] = eager
            else:
                compiled = TruncatedNetwork(self.module, module_path, self.compile_options)
                networks[module_path] = CompiledOrEager(self.memory, compiled, eager)
        return networks[module_path]

    def function(self, site: tuple[str, ...], function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` compiled for one use site (see :func:`compile_private`), made once per run,
        with the fallback of :class:`CompiledOrEager`; ``function`` itself when not compiling."""
        if self.compile_options is None:
            return function
        functions = self.memory.functions
        if site not in functions:
            functions[site] = CompiledOrEager(
                self.memory, compile_private(function, self.compile_options), function
            )
        return functions[site]


class CompiledOrEager:
    """Calls ``compiled``; if it fails, warns once and calls ``eager`` for the rest of the run.

    A failed compilation must not end a build that runs fine eagerly. Out-of-memory errors
    are not compile failures: they reach the batch loop, which halves the batch, compiled
    or not. The eager retry runs outside the ``except`` block, so that the failed
    attempt's tensors (held by the traceback) are freed first.
    """

    def __init__(self, memory: RunMemory, compiled: Callable[..., Any], eager: Callable[..., Any]) -> None:
        self.memory = memory
        self.compiled = compiled
        self.eager = eager

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.memory.compile_failure is None:
            failure = None
            try:
                return self.compiled(*args, **kwargs)
            except (torch.cuda.OutOfMemoryError, AtlasError):
                raise
            except Exception as error:  # noqa: BLE001 - any compiler failure falls back to eager
                failure = f"{type(error).__name__}: {error}"
            warn_compile_fallback(failure)
            self.memory.compile_failure = failure
        return self.eager(*args, **kwargs)


def resolve_device(device: torch.device | str) -> torch.device:
    """``device`` with an explicit index for CUDA ("cuda" -> "cuda:<current>"), so devices compare."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def prepare_model(
    model: nn.Module,
    settings: EngineSettings,
    device: torch.device | str,
    compile_backend: str = "inductor",
) -> PreparedModel:
    """Copy ``model`` with phase-switched leaky ReLUs onto ``device`` (eval mode, no parameter
    gradients). With ``settings.compile`` every truncated network is compiled with
    ``compile_backend`` ("inductor"; "aot_eager" or "eager" check the graphs quickly)."""
    device = resolve_device(device)
    module = with_phase_relus(copy.deepcopy(model), settings.leaky_slope)
    slopes = tuple((name, relu.own_slope) for name, relu in phase_relus(module))
    module.eval()
    module.requires_grad_(False)
    module.to(device)
    # channels-last pays on the CPU as well: oneDNN's pooling and convolutions run faster
    # than in NCHW, and so does a whole optimisation step (bench/results/notes.md).
    channels_last = settings.channels_last
    if channels_last:
        for p in module.parameters():
            if p.ndim == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
            elif p.ndim == 5:
                p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
    options = {"backend": compile_backend} if settings.compile else None
    return PreparedModel(module, device, settings.leaky_slope, slopes, channels_last, options)


@contextlib.contextmanager
def own_relus(prepared: PreparedModel) -> Iterator[nn.Module]:
    """Temporarily give the private copy the ReLU slopes of the caller's model."""
    try:
        set_leaking(prepared.module, False)
        yield prepared.module
    finally:
        set_leaking(prepared.module, True)


def use_bf16(settings: EngineSettings, device: torch.device) -> bool:
    """bf16 autocast: "auto" means on a CUDA card that computes in bf16 natively (compute
    capability 8.0, Ampere, or later), float32 elsewhere. The card asked about is ``device``,
    not the current one."""
    if settings.precision == "bf16":
        return True
    if settings.precision == "fp32":
        return False
    if device.type != "cuda":
        return False
    major, _ = torch.cuda.get_device_capability(resolve_device(device))
    return major >= 8


@contextlib.contextmanager
def numerics(device: torch.device, bf16: bool) -> Iterator[None]:
    """The numerics of one batch on ``device``, restored afterwards.

    On CUDA: cuDNN autotuning (``benchmark``), which pays because every step of a batch has
    the same shapes; and, unless bf16 is used, strict float32, i.e. TF32 off for
    convolutions (cuDNN's default is TF32) and matrix products, so that "fp32" means IEEE
    float32 as on the CPU. Nothing changes on other devices.
    """
    if device.type != "cuda":
        yield
        return
    # torch >= 2.9 sets TF32 per backend with fp32_precision (and refuses a mix with the
    # older allow_tf32 flags); older versions only have allow_tf32.
    conv = getattr(torch.backends.cudnn, "conv", None)
    modern = conv is not None and hasattr(conv, "fp32_precision")
    flags = [(torch.backends.cudnn, "benchmark", True)]
    if not bf16:
        flags += (
            [(conv, "fp32_precision", "ieee"), (torch.backends.cuda.matmul, "fp32_precision", "ieee")]
            if modern
            else [
                (torch.backends.cudnn, "allow_tf32", False),
                (torch.backends.cuda.matmul, "allow_tf32", False),
            ]
        )
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in flags]
    try:
        for owner, name, value in flags:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def to_layout(x: Tensor, channels_last: bool) -> Tensor:
    """channels_last(_3d) on request; no copy when ``x`` has that layout already."""
    if not channels_last:
        return x
    if x.ndim == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def available_cuda_memory(device: torch.device) -> int:
    """Bytes this process can still allocate on ``device``.

    ``mem_get_info`` sees the card (other processes included) but not a per-process cap
    (``torch.cuda.set_per_process_memory_fraction``); the caching allocator sees the cap.
    The smaller of the two applies. Memory reserved by the allocator but unused counts as
    available in both.
    """
    free, total = torch.cuda.mem_get_info(device)
    allocated = torch.cuda.memory_allocated(device)
    reusable = torch.cuda.memory_reserved(device) - allocated
    # get_per_process_memory_fraction is newer than set_...; without it, no cap is known
    fraction = getattr(torch.cuda, "get_per_process_memory_fraction", lambda _: 1.0)(device)
    capped = int(fraction * total) - allocated
    return max(0, min(free + reusable, capped))


def cuda_batch_size(per_row_bytes: float, available_bytes: float, n_rows: int) -> int:
    """Rows that fit in MEMORY_FRACTION of ``available_bytes``, at most MAX_AUTO_BATCH."""
    size = int(MEMORY_FRACTION * available_bytes // max(per_row_bytes, 1.0))
    return max(1, min(size, n_rows, MAX_AUTO_BATCH))


def compile_private(function: Callable[..., Any], options: dict[str, Any] | None) -> Callable[..., Any]:
    """``function`` compiled with its own cache (see :func:`truncate.own_code_copy`), or itself
    when ``options`` is None. One copy per use site, so that a site's constant arguments
    (an input's spec, its learning rate) are one graph and never recompile another site's."""
    if options is None:
        return function
    return torch.compile(own_code_copy(function), **options)


def warn_compile_fallback(reason: str) -> None:
    warnings.warn(
        f"torch.compile could not run the cut forward pass ({reason}); continuing without compilation.",
        RuntimeWarning,
        stacklevel=3,
    )
