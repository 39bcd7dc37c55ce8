"""Training in several processes under ``torchrun``: the process group and what the processes agree on.

    torchrun --standalone --nproc-per-node 2 -m fcnstudio train DATASET --batch 16 ...

torchrun starts the processes with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
(…) in their environment; :func:`start` sees them and joins the process
group: NCCL when the device is CUDA (process ``LOCAL_RANK`` on GPU
``LOCAL_RANK``), gloo on the CPU, and a gloo group of its own for the small
control messages (CPU tensors, so agreeing never waits for a GPU, and a
control message is never taken for a gradient). Without torchrun,
or with one process, :func:`start` returns None and a run is the plain
single-process run. The window never trains distributed.

The run in each process is the same :class:`~.trainer.Trainer`; the loop is
:mod:`.distributed_loop`. Process 0 (``rank 0``) is the run as the user sees
it: only it makes the run folder, writes ``config.json``, ``events.jsonl``
and the checkpoints, and prints events. The others print nothing but their
own errors on stderr.

Nothing may leave one process waiting in a collective that another skipped,
so every branch is taken by all processes together: once a step they add up
a few numbers (:meth:`Group.agree`) — an error met, a stop asked for, process
0's clock, the labelled pixels of their share of the batch — and
:meth:`Group.check` tells all of them about an error any of them met (the
others raise :class:`PeerRefused` or :class:`PeerFailed` naming the
process), so process 0 reports it in one error event and every process ends.
An error inside a forward or backward pass (out of GPU memory) cannot wait
for the next agreement: that process ends, and the others see its
connection close (gloo at once; NCCL after :data:`TIMEOUT`, unless torchrun
ends them first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Sequence

import torch

from .config import ConfigError, available_cores
from .predict import resolve_device

__all__ = ["TIMEOUT", "Group", "PeerFailed", "PeerRefused", "is_peer_lost", "start"]

#: How long a collective waits for the other processes before it fails.
TIMEOUT = timedelta(minutes=10)


class PeerRefused(Exception):
    """Another process could not start the run (its data, labels or checkpoint were refused there)."""

    def __init__(self, message: str, codes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.codes = list(codes)  # the pre-flight's finding codes, as PreflightError carries them


class PeerFailed(RuntimeError):
    """Another process failed during the run, or stopped answering."""


def is_peer_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another process ended or stopped answering."""
    if isinstance(exc, getattr(torch.distributed, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("closed by peer", "connection reset", "timed out", "nccl"))


@dataclass
class Group:
    """This process's place in a distributed run, and the collectives the run uses."""

    rank: int
    world: int
    local_world: int
    device: torch.device
    backend: str
    control: Any = None  # the gloo process group of the control messages (never mixed with the gradients')
    #: whether this process's own error has been handed to the others (process 0 reports it) ...
    handed_over: bool = field(default=False, init=False)
    #: ... and whether :meth:`check` raised another process's error here
    told: bool = field(default=False, init=False)
    #: an error where the others could not hear of it (in a step): they may still wait in a collective
    broken: bool = field(default=False, init=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"process {self.rank} of {self.world}"

    def part(self, n: int) -> range:
        """This process's positions in a batch of ``n``: ``rank, rank + world, …``."""
        return range(self.rank, n, self.world)

    def threads(self) -> int:
        """Torch threads for this process: the cores shared by the processes on this machine."""
        return max(1, available_cores() // max(1, self.local_world))

    # ------------------------------------------------------------------ collectives

    def agree(self, values: Sequence[float]) -> list[float]:
        """The sums over every process of ``values`` (a few numbers; every process calls it together)."""
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        torch.distributed.all_reduce(t, group=self.control)
        return t.tolist()

    def gather(self, obj: Any) -> list:
        """``obj`` of every process, in rank order (picklable plain data)."""
        out: list = [None] * self.world
        torch.distributed.all_gather_object(out, obj, group=self.control)
        return out

    def check(self, exc: Exception | None, refused: bool = False) -> None:
        """Every process says whether it met an error. Raises ``exc`` when given, else the error of the
        first process that met one (:class:`PeerRefused` when it was a refusal there, else
        :class:`PeerFailed`); returns when none did."""
        mine = None if exc is None else {"message": str(exc) if refused else f"{type(exc).__name__}: {exc}",
                                         "refused": refused, "codes": list(getattr(exc, "codes", None) or ())}
        errors = self.gather(mine)
        if exc is not None:
            self.handed_over = True
            raise exc
        for rank, e in enumerate(errors):
            if e is not None:
                self.told = True
                text = f"process {rank} of {self.world}: {e['message']}"
                raise PeerRefused(text, e["codes"]) if e["refused"] else PeerFailed(text)

    def together(self, step: Callable[[], None], refusals: tuple = ()) -> None:
        """``step()`` here, then :meth:`check` with its error (a refusal when one of ``refusals``)."""
        try:
            step()
        except Exception as exc:
            self.check(exc, refused=isinstance(exc, refusals))  # raises exc once the others know
            raise
        self.check(None)

    def note_failure(self) -> None:
        """This process ends with an error. Unless the others heard of it (or it was theirs), they may be
        waiting in a collective: :meth:`close` does not wait for them."""
        if not (self.handed_over or self.told):
            self.broken = True

    def all_mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean over the processes of a tensor on this process's device (NCCL: stays on the GPU)."""
        t = t.detach().clone()
        torch.distributed.all_reduce(t)
        return t / self.world

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` for training: DistributedDataParallel over its parameters (the module itself is
        kept for evaluation and checkpoints). On CUDA, batch norm becomes SyncBatchNorm, which normalises
        with the statistics of the whole batch; PyTorch has no CPU version, so on the CPU each process
        normalises with its share's statistics."""
        ddp = torch.nn.parallel.DistributedDataParallel
        if self.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # in place below the root
            return ddp(model, device_ids=[self.device.index])
        return ddp(model)

    def close(self) -> None:
        """Leave the run: first wait until every process got here (so none ends while another still
        reports, and torchrun, seeing one process end with an error, ends no other mid-report), unless this
        one is :attr:`broken`; then tear the group down."""
        if not torch.distributed.is_initialized():
            return
        if not self.broken:
            try:
                torch.distributed.barrier(group=self.control)
            except RuntimeError:  # another process is gone already
                pass
        torch.distributed.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise ConfigError(f"the environment variable {name}={os.environ.get(name)!r} is not a number") from None


def start(device: str = "auto") -> Group | None:
    """Join the process group torchrun set up; None outside torchrun (or with one process).

    ``device``: the config's ``auto`` / ``cpu`` / ``cuda``; on CUDA process ``LOCAL_RANK`` takes GPU
    ``LOCAL_RANK``. :class:`~.config.ConfigError` when that cannot work."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return None
    if not torch.distributed.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; run one process (without torchrun)")
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    try:
        dev = resolve_device(device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"process {rank} would use GPU {local_rank}, but this machine has "
                              f"{torch.cuda.device_count()}; start at most one process per GPU")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, timeout=TIMEOUT)
    control = torch.distributed.new_group(backend="gloo", timeout=TIMEOUT)
    return Group(rank=torch.distributed.get_rank(), world=torch.distributed.get_world_size(),
                 local_world=_env_int("LOCAL_WORLD_SIZE", world), device=dev, backend=backend, control=control)
