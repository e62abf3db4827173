"""``loss``, ``slow`` and ``netem``: degraded links on the targets.

``loss`` drops received packets at random (iptables statistic, needs no
netem); ``slow`` limits what a host sends (tbf); ``netem`` delays with
jitter, and may lose, duplicate and reorder (kernels with netem only).
All three are the ``link_fault`` role, chosen by ``link_fault_kind``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyharness.nemesis.registry import Action, Chooser, FaultKind, Step, register
from pyharness.nemesis.targets import for_op
from pyharness.options import (
    RATE_UNITS,
    TC_RATE,
    Option,
    interval,
    matches,
    nonnegative_time,
)

if TYPE_CHECKING:
    from pyharness.history import Op


@dataclass
class LinkFault:
    """One link fault kind, with the role's variables."""

    kind: FaultKind
    role_vars: dict[str, Any]

    @property
    def name(self) -> str:
        return self.kind.name

    def start(self, nem: Chooser, test: Mapping[str, Any], op: Op) -> Action:
        hosts, value, info = for_op(nem, test, op)
        return self.kind.start.action(
            {"fault_hosts": ",".join(hosts), "link_fault_kind": self.name, **self.role_vars},
            hosts, value, {**info, **self.role_vars})

    def stop(self, nem: Chooser, test: Mapping[str, Any], op: Op,
             hosts: list[str]) -> Action:
        return self.kind.stop.action({"fault_hosts": ",".join(hosts),
                                      "link_fault_remove_kinds": [self.name]}, hosts)


_START = Step("link-fault.yml", "link_fault", "apply.yml", "Apply the link fault")
_STOP = Step("link-heal.yml", "link_fault", "remove.yml", "Remove the link faults")
_HEAL = (("link_fault", "remove.yml"),)


def _maker(role_vars: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Callable[
        [FaultKind, str, Mapping[str, Any], Sequence[str]], LinkFault]:
    def make(kind: FaultKind, name: str, opts: Mapping[str, Any],
             nodes: Sequence[str]) -> LinkFault:
        return LinkFault(kind, role_vars(opts))
    return make


def _netem_vars(opts: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"link_fault_delay": str(opts["netem_delay"]),
                           "link_fault_jitter": str(opts["netem_jitter"])}
    for key in ("loss", "duplicate", "reorder"):
        v = opts.get(f"netem_{key}")
        if v:
            out["link_fault_netem_loss" if key == "loss" else f"link_fault_{key}"] = float(v)
    return out


def _percent(key: str) -> Option:
    return Option(f"netem_{key}", f"--netem-{key}", "float",
                  interval(0, 100, what="a percentage"), nullable=True, group="faults",
                  help=f"netem: {key}, percent.")


LOSS = register(FaultKind(
    name="loss",
    summary="drop received packets at random (iptables statistic)",
    start=_START, stop=_STOP, heal=_HEAL,
    make=_maker(lambda o: {"link_fault_loss_probability": float(o["loss_probability"])}),
    options=(Option("loss_probability", "--loss-probability", "float",
                    interval(0, 1, lo_open=True, what="a probability"), group="faults",
                    default=0.3, help="loss: probability that a packet is dropped."),),
))

SLOW = register(FaultKind(
    name="slow",
    summary="limit what the host sends (tc tbf)",
    start=_START, stop=_STOP, heal=_HEAL,
    make=_maker(lambda o: {"link_fault_rate": str(o["slow_rate"])}),
    options=(Option("slow_rate", "--slow-rate", "str", matches(
        TC_RATE, f"a tc rate above 0: a number and a unit ({RATE_UNITS}), e.g. 1mbit"),
        group="faults", default="1mbit", help="slow: tbf rate limit, e.g. 1mbit."),),
))

NETEM = register(FaultKind(
    name="netem",
    summary="delay with jitter, loss, duplication, reordering (tc netem)",
    start=_START, stop=_STOP, heal=_HEAL,
    make=_maker(_netem_vars),
    options=(
        Option("netem_delay", "--netem-delay", "str", nonnegative_time, group="faults",
               default="100ms", help="netem: delay."),
        Option("netem_jitter", "--netem-jitter", "str", nonnegative_time, group="faults",
               default="20ms", help="netem: jitter."),
        _percent("loss"), _percent("duplicate"), _percent("reorder"),
    ),
))
