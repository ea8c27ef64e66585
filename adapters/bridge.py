"""``Bridge``: the twin's side of one adapter, with no I/O.

It checks an adapter's mappings against the running cell (every signal and machine named must
exist), pins the signals a PLC feeds, applies what the PLC reports (signal values into the
SignalStore; fault tags as ``inject_fault``/``clear_fault`` commands through ``twin.api``, so
they are journaled and replayed like any command) and tells which outputs changed since they
were last written.

A fault tag is a relay, level-triggered: while it is on, its machine is faulted. The fault it
raises is labelled ``adapter:NAME`` (``by``), and only that fault is cleared when the relay
opens (an operator's maintenance stays). While the relay is on, the fault is raised again
whenever it is gone (an operator cleared it: one warning says the relay overrode the clear).
A fault the twin has when the adapter starts (restored by ``--resume``) is the relay's if it
carries its label. A command the twin refuses is logged once per reason, not every cycle.

It also tells the twin how the link is: the input signals are ``STALE`` (their last usable
value) from ``pin()`` until read, again once the link is lost (``stale()``), and one by one
while the PLC has no good value for a tag; and the link's state goes to the twin's
``LinkRegistry`` (``links``, reported to by the adapter), where the OPC UA server shows it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from adapters.config import AdapterConfig, FaultInput, SignalOutput
from twin.errors import CommandError, ConfigError, UnknownMachineError
from twin.events import STATE_CODES
from twin.links import LinkRegistry
from twin.model.scenario import fault_misfit
from twin.signals import GOOD, STALE, SignalSpec

if TYPE_CHECKING:
    from twin.api import TwinAPI
    from twin.engine.cell import Engine
    from twin.engine.machine import MachineRuntime

__all__ = ["AsWritten", "Bridge", "TagValue", "as_float32", "int_range", "overflows", "saturate"]

#: What a tag read gives: a number or flag, or None when the PLC has no good value for it.
TagValue = float | int | bool | None
#: An output's raw value as its tag holds it once written: (position in cfg.outputs, raw)
AsWritten = Callable[[int, float], float]


class Bridge:
    """Binds ``cfg`` (the ``where``-th adapter of ``source``) to ``engine`` and ``api``.

    Raises ConfigError naming ``source`` and the mapping's field for a signal or machine the
    cell does not have, or a fault ``kind`` its machine cannot have. ``pin()`` hands the
    input signals to the PLC. ``links``: where the link's state is reported (a registry of
    its own when not given).
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
        self.log = _Named(log or logging.getLogger(f"adapters.{cfg.name}"), cfg.name)
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
        # a value read beyond its signal's range by more than the range's span is no reading
        # (a wrong type, word order or scale: 3,276,800 degC), not a process excursion
        specs = [store.spec(i) for i in self.inputs.tolist()]
        span = np.array([max(sp.high - sp.low, 1.0) for sp in specs])
        self._in_low = np.array([sp.low for sp in specs]) - span
        self._in_high = np.array([sp.high for sp in specs]) + span
        self._faults: list[FaultInput] = list(cfg.fault)
        for j, f in enumerate(self._faults):
            misfit = fault_misfit(f.kind, machine("fault", j, f.machine).cfg)
            if misfit is not None:  # the twin would refuse the relay's fault at run time
                raise ConfigError(source, f"{where}.fault[{j}].kind", misfit)
        self.by = f"adapter:{cfg.name}"  # the label of the faults its relays raise
        self._raised = [False] * len(self._faults)  # the relay's fault was on when last seen
        self._refusal: list[str | None] = [None] * len(self._faults)  # the last one logged
        self._out_signals = np.array(
            [signal("write", j, m.signal) for j, m in enumerate(cfg.write)], dtype=np.int64
        )
        #: what the mappings allow but will go wrong (``twin adapters check`` and ``twin run``
        #: say it): an output whose type cannot hold its signal's range, and the kind's own
        #: (``AdapterConfig.warnings``: e.g. two Modbus inputs reading one register)
        self.warnings = [
            f"{source}: {where}.write[{j}]: {why}"
            for j, m in enumerate(cfg.write)
            if (why := _unfit(m, store.spec(int(self._out_signals[j])))) is not None
        ] + [f"{source}: {where}.{field}: {why}" for field, why in cfg.warnings]
        self._out_scale = np.array([m.scale for m in cfg.write])
        self._out_offset = np.array([m.offset for m in cfg.write])
        self._out_machines = [machine("state", j, m.machine) for j, m in enumerate(cfg.state)]
        self._sent = np.full(len(self._out_signals) + len(self._out_machines), np.nan)

    def pin(self) -> None:
        """The PLC feeds the input signals from now on (the machine models no longer do); a
        fault its relays raised that the twin has now (restored by ``--resume``) is theirs."""
        for i in self.inputs.tolist():
            self.engine.store.pin(i)
        self.stale()  # nothing read yet: what the twin has is only the last usable value
        self._raised = [self._has_fault(f) for f in self._faults]

    def _has_fault(self, f: FaultInput) -> bool:
        """The twin has the fault this relay raised on ``f.machine`` (its kind, this adapter's
        label: another relay's fault on the machine is not this one's)."""
        faults = self.engine.faults
        return faults.injected(self.engine.machine(f.machine), f.kind, by=self.by) > 0

    def stale(self) -> None:
        """The link is down: every input signal keeps its value, as ``STALE``."""
        self.engine.store.set_quality(self.inputs, STALE)

    def apply(self, values: Sequence[TagValue]) -> dict[int, tuple[str, str]]:
        """Apply one cycle's input values, in ``cfg.inputs`` order (signals, then faults).
        A signal read is ``GOOD`` (current as of now if it was stale); one without a good value
        (None) keeps its value as ``STALE``, and so does one that is no reading: not finite,
        or far outside its signal's range (more than the range's span beyond it). A fault
        tag without a good value or not finite leaves its machine as it is. Returns those
        that are no reading, as {position: (why, the kind of why)}: bad tags for the
        adapter."""
        n = self.inputs.size
        rejected: dict[int, tuple[str, str]] = {}
        if n:
            store, now = self.engine.store, self.engine.now
            raw = np.array([math.nan if v is None else float(v) for v in values[:n]])
            scaled = raw * self._in_scale + self._in_offset
            with np.errstate(invalid="ignore"):  # NaN compares false: not good
                good = (scaled >= self._in_low) & (scaled <= self._in_high)
            if good.any():
                store.write(self.inputs[good], scaled[good], now)
                store.set_quality(self.inputs[good], GOOD, now)
            if not good.all():
                store.set_quality(self.inputs[~good], STALE)
                for j in np.flatnonzero(~good).tolist():
                    if values[j] is not None:  # else the kind said why already
                        rejected[j] = self._no_reading(j, float(raw[j]), float(scaled[j]))
        for k, (f, v) in enumerate(zip(self._faults, values[n:], strict=True)):
            if v is None:  # no good value: the machine's state stays as it is
                continue
            if not math.isfinite(v):  # bool(nan) is true: no reading is no relay either
                why = (
                    f"the PLC gives {v}, not a number: not used, {f.machine} keeps its state;"
                    " check the tag's type"
                )
                rejected[n + k] = (why, "not finite")
                continue
            self._relay(k, f, bool(v) != f.active_low)
        return rejected

    def _no_reading(self, j: int, raw: float, value: float) -> tuple[str, str]:
        """Why ``read[j]``'s value (``raw``, scaled to ``value``) is no reading, and the kind
        of why (the same kind is news once, whatever the value)."""
        store = self.engine.store
        i = int(self.inputs[j])
        sp, path = store.spec(i), store.path(i)
        if not math.isfinite(raw):
            why = f"the PLC gives {raw}, not a number: not used; check the tag's type"
            return why, "not finite"
        why = (
            f"{value:.6g} {sp.unit} (raw {raw:.6g}) is far outside {path}'s range "
            f"({sp.low:g} to {sp.high:g} {sp.unit}): not used; check the tag's data type "
            "(and word order), scale and offset"
        )
        return why, "out of range"

    def _relay(self, k: int, f: FaultInput, active: bool) -> None:
        """Fault tag ``k`` reads ``active``: the twin follows it (see the module)."""
        has = self._has_fault(f)
        name = f"fault[{k}] ({f.machine})"
        try:
            if active and not has:
                if self._raised[k]:  # it was on and is gone: someone cleared it
                    self.log.warning(
                        "%s: the %s fault was cleared while the PLC's relay is on: raised "
                        "again (the relay wins; it clears when the relay opens)",
                        name,
                        f.kind,
                    )
                self.api.inject_fault(f.machine, f.kind, by=self.by)
            elif not active and has:
                self.api.clear_fault(f.machine, kind=f.kind, by=self.by)
        except CommandError as exc:
            if self._refusal[k] != str(exc):  # once per reason, not every cycle
                self._refusal[k] = str(exc)
                self.log.warning("%s: the twin refuses the PLC's relay: %s", name, exc)
            return
        self._refusal[k] = None
        self._raised[k] = active

    def outputs(self) -> np.ndarray:
        """Current raw values of ``cfg.outputs``: signals scaled back, then state codes."""
        store = self.engine.store
        signals = (store.values[self._out_signals] - self._out_offset) / self._out_scale
        states = [STATE_CODES.get(m.state, -1) for m in self._out_machines]
        return np.concatenate([signals, np.array(states, dtype=np.float64)])

    def pending(self, as_written: AsWritten | None = None) -> list[tuple[int, float]]:
        """Outputs to write: (position in ``cfg.outputs``, raw value) of those whose value as
        the tag holds it (``as_written(position, raw)``: rounded to an integer register, a
        coil's 0 or 1) changed since they were last ``sent`` (all of them at first and after
        ``forget_sent``): noise that the tag cannot show is not written."""
        now = self.outputs()
        wire = now if as_written is None else self._as_written(now, as_written)
        # NaN has nothing to write (the PLC keeps its last value), and never equals _sent
        todo = np.flatnonzero((wire != self._sent) & ~np.isnan(now))
        return list(zip(todo.tolist(), now[todo].tolist(), strict=True))

    def sent(self, items: Sequence[tuple[int, float]], as_written: AsWritten | None = None) -> None:
        """The PLC accepted ``items`` (from ``pending``; ``as_written`` as given to it)."""
        for pos, value in items:
            self._sent[pos] = value if as_written is None else as_written(pos, value)

    @staticmethod
    def _as_written(raw: np.ndarray, as_written: AsWritten) -> np.ndarray:
        values = raw.tolist()
        return np.array(
            [v if math.isnan(v) else as_written(p, v) for p, v in enumerate(values)],
            dtype=np.float64,
        )

    def forget_sent(self) -> None:
        """The link was lost: nothing is known to be on the PLC any more."""
        self._sent[:] = np.nan


class _Named(logging.LoggerAdapter[logging.Logger]):
    """An adapter's logger: each line begins ``adapter NAME:`` (the CLI writes the twin's own
    log lines without the logger's name, and an operator must know which PLC it is)."""

    def __init__(self, logger: logging.Logger, name: str) -> None:
        super().__init__(logger, {})
        self.prefix = f"adapter {name}: "

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return self.prefix + str(msg), kwargs


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of an integer tag of ``bits`` bits."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def overflows(value: float, bounds: tuple[int, int]) -> bool:
    """``value`` (not NaN) is beyond ``bounds`` once rounded: ``saturate`` changes it."""
    return math.isinf(value) or not bounds[0] <= round(value) <= bounds[1]


def as_float32(value: float) -> float:
    """``value`` as a float32 tag holds it (beyond float32's range: infinity)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def saturate(value: float, bounds: tuple[int, int]) -> int:
    """``value`` (not NaN: ``pending`` never offers it) rounded and saturated to ``bounds``,
    as a PLC's conversions do; infinities go to the nearer bound."""
    lo, hi = bounds
    if math.isinf(value):
        return hi if value > 0 else lo
    return int(min(max(round(value), lo), hi))


def _unfit(m: SignalOutput, sp: SignalSpec) -> str | None:
    """Why output ``m``'s integer type cannot hold its signal's range ``sp``, or None."""
    bounds = m.int_bounds
    if bounds is None:
        return None
    raw = sorted(((sp.low - m.offset) / m.scale, (sp.high - m.offset) / m.scale))
    if bounds[0] <= round(raw[0]) and round(raw[1]) <= bounds[1]:
        return None
    return (
        f"{m.signal} ranges {sp.low:g} to {sp.high:g} {sp.unit}, {raw[0]:.6g} to {raw[1]:.6g}"
        f" raw at scale {m.scale:g} and offset {m.offset:g}, but the tag holds {bounds[0]} to"
        f" {bounds[1]}: values beyond are written saturated (choose a wider type or scale)"
    )


def _hint(paths: list[str], path: str) -> str:
    machine = path.split(".", 1)[0] + "."
    same = [p for p in paths if p.startswith(machine)]
    if same:
        return f" ({machine[:-1]} has: {', '.join(p.split('.', 1)[1] for p in same)})"
    return f" (signals are MACHINE.NAME, e.g. {paths[0]})" if paths else ""
