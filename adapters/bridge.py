"""``Bridge``: the twin's side of one adapter, with no I/O.

It checks an adapter's mappings against the running cell (every signal and machine named must
exist), pins the signals a PLC feeds, applies what the PLC reports (signal values into the
SignalStore; fault tags as ``inject_fault``/``clear_fault`` commands through ``twin.api``, so
they are journaled and replayed like any command) and tells which outputs changed since they
were last written. A fault tag owns the faults injected on its machine: what the twin has
when the adapter starts (restored by ``--resume``) is cleared when the tag reads false, and a
command the twin refuses (an operator cleared the fault first) is not retried every cycle.

It also tells the twin how the link is: the input signals are ``STALE`` (their last usable
value) from ``pin()`` until read, again once the link is lost (``stale()``), and one by one
while the PLC has no good value for a tag; and the link's state goes to the twin's
``LinkRegistry`` (``links``, reported to by the adapter), where the OPC UA server shows it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from adapters.config import AdapterConfig, FaultInput
from twin.errors import CommandError, ConfigError, UnknownMachineError
from twin.events import STATE_CODES
from twin.links import LinkRegistry
from twin.signals import GOOD, STALE

if TYPE_CHECKING:
    from twin.api import TwinAPI
    from twin.engine.cell import Engine
    from twin.engine.machine import MachineRuntime

__all__ = ["Bridge", "TagValue", "int_range", "saturate"]

#: What a tag read gives: a number or flag, or None when the PLC has no good value for it.
TagValue = float | int | bool | None


class Bridge:
    """Binds ``cfg`` (the ``where``-th adapter of ``source``) to ``engine`` and ``api``.

    Raises ConfigError naming ``source`` and the mapping's field for a signal or machine the
    cell does not have. ``pin()`` hands the input signals to the PLC. ``links``: where the
    link's state is reported (a registry of its own when not given).
    """

    def __init__(
        self,
        cfg: AdapterConfig,
        engine: Engine,
        api: TwinAPI,
        source: str,
        where: str,
        log: logging.Logger | None = None,
        links: LinkRegistry | None = None,
    ) -> None:
        self.cfg = cfg
        self.log = log or logging.getLogger(f"adapters.{cfg.name}")
        self.engine = engine
        self.api = api
        self.links = links if links is not None else LinkRegistry()
        store = engine.store

        def signal(group: str, j: int, path: str) -> int:
            try:
                return store.index(path)
            except KeyError:
                raise ConfigError(
                    source,
                    f"{where}.{group}[{j}].signal",
                    f"unknown signal {path!r}{_hint(store.paths, path)}",
                ) from None

        def machine(group: str, j: int, mid: str) -> MachineRuntime:
            try:
                return engine.machine(mid)
            except UnknownMachineError as exc:
                raise ConfigError(source, f"{where}.{group}[{j}].machine", str(exc)) from None

        self.inputs = np.array(
            [signal("read", j, m.signal) for j, m in enumerate(cfg.read)], dtype=np.int64
        )
        self._in_scale = np.array([m.scale for m in cfg.read])
        self._in_offset = np.array([m.offset for m in cfg.read])
        self._faults: list[FaultInput] = list(cfg.fault)
        for j, f in enumerate(self._faults):
            machine("fault", j, f.machine)
        self._faulted = [False] * len(self._faults)  # what this adapter has injected
        self._out_signals = np.array(
            [signal("write", j, m.signal) for j, m in enumerate(cfg.write)], dtype=np.int64
        )
        self._out_scale = np.array([m.scale for m in cfg.write])
        self._out_offset = np.array([m.offset for m in cfg.write])
        self._out_machines = [machine("state", j, m.machine) for j, m in enumerate(cfg.state)]
        self._sent = np.full(len(self._out_signals) + len(self._out_machines), np.nan)

    def pin(self) -> None:
        """The PLC feeds the input signals from now on (the machine models no longer do), and
        its fault tags own the faults injected on their machines: one the twin has now (e.g.
        restored by ``--resume``) is cleared when the tag reads false."""
        for i in self.inputs.tolist():
            self.engine.store.pin(i)
        self.stale()  # nothing read yet: what the twin has is only the last usable value
        self._faulted = [self.engine.injected_faults(f.machine) > 0 for f in self._faults]

    def stale(self) -> None:
        """The link is down: every input signal keeps its value, as ``STALE``."""
        self.engine.store.set_quality(self.inputs, STALE)

    def apply(self, values: Sequence[TagValue]) -> None:
        """Apply one cycle's input values, in ``cfg.inputs`` order (signals, then faults).
        A signal read is ``GOOD`` (current as of now if it was stale); one without a good value
        (None) keeps its value as ``STALE``."""
        n = self.inputs.size
        if n:
            store, now = self.engine.store, self.engine.now
            raw = np.array([math.nan if v is None else float(v) for v in values[:n]])
            good = ~np.isnan(raw)
            if good.any():
                scaled = raw[good] * self._in_scale[good] + self._in_offset[good]
                store.write(self.inputs[good], scaled, now)
                store.set_quality(self.inputs[good], GOOD, now)
            if not good.all():
                store.set_quality(self.inputs[~good], STALE)
        for k, (f, v) in enumerate(zip(self._faults, values[n:], strict=True)):
            if v is None:
                continue  # no good value: the machine's state stays as it is
            active = bool(v) != f.active_low
            if active == self._faulted[k]:
                continue
            try:
                if active:
                    self.api.inject_fault(f.machine, f.kind)
                else:
                    self.api.clear_fault(f.machine)
            except CommandError as exc:  # e.g. an operator cleared the fault already
                self.log.warning("fault[%d] on %s: %s", k, f.machine, exc)
            self._faulted[k] = active  # tried once: no retry every cycle

    def outputs(self) -> np.ndarray:
        """Current raw values of ``cfg.outputs``: signals scaled back, then state codes."""
        store = self.engine.store
        signals = (store.values[self._out_signals] - self._out_offset) / self._out_scale
        states = [STATE_CODES.get(m.state, -1) for m in self._out_machines]
        return np.concatenate([signals, np.array(states, dtype=np.float64)])

    def pending(self) -> list[tuple[int, float]]:
        """Outputs to write: (position in ``cfg.outputs``, raw value) of those that changed since
        they were last ``sent`` (all of them at first and after ``forget_sent``)."""
        now = self.outputs()
        # NaN has nothing to write (the PLC keeps its last value), and never equals _sent
        todo = np.flatnonzero((now != self._sent) & ~np.isnan(now))
        return list(zip(todo.tolist(), now[todo].tolist(), strict=True))

    def sent(self, items: Sequence[tuple[int, float]]) -> None:
        """The PLC accepted ``items`` (from ``pending``)."""
        for pos, value in items:
            self._sent[pos] = value

    def forget_sent(self) -> None:
        """The link was lost: nothing is known to be on the PLC any more."""
        self._sent[:] = np.nan


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of an integer tag of ``bits`` bits."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def saturate(value: float, bounds: tuple[int, int]) -> int:
    """``value`` (not NaN: ``pending`` never offers it) rounded and saturated to ``bounds``,
    as a PLC's conversions do; infinities go to the nearer bound."""
    lo, hi = bounds
    if math.isinf(value):
        return hi if value > 0 else lo
    return int(min(max(round(value), lo), hi))


def _hint(paths: list[str], path: str) -> str:
    machine = path.split(".", 1)[0] + "."
    same = [p for p in paths if p.startswith(machine)]
    if same:
        return f" ({machine[:-1]} has: {', '.join(p.split('.', 1)[1] for p in same)})"
    return f" (signals are MACHINE.NAME, e.g. {paths[0]})" if paths else ""
