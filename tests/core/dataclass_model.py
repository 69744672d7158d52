"""The fact model as frozen dataclasses, as it was until its types became msgspec Structs.

Every Struct of ``scanner.core.model`` has a twin here: a frozen, slotted dataclass of the
same name with the same fields (names, order, type hints, defaults), made from the Struct
itself, as the model was written up to commit 88af4ce (every stored scan until then was
written from those dataclasses, by the hand-written reflection of
``tests.core.factjson_oracle`` and then by msgspec). ``from_struct`` turns a value of the
Struct model into its dataclass twin, so the tests can check that the Struct model is
written (and read) exactly as its dataclass form is. The enums are the model's own.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import msgspec

from scanner.core import model
from scanner.core.model import DnssecStatus, HostOutcome, MailOutcome, ProbeStatus, Verdict

__all__ = ["DnssecStatus", "HostOutcome", "MailOutcome", "ProbeStatus", "Verdict", "from_struct"]


def _twin(struct: type[msgspec.Struct]) -> type:
    """The frozen slotted dataclass with ``struct``'s fields; its type hints (text, as
    ``model`` writes them) name the twins and enums of this module."""
    specs: list[tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(struct):
        if info.default is not msgspec.NODEFAULT:
            default = dataclasses.field(default=info.default)
        elif info.default_factory is not msgspec.NODEFAULT:
            default = dataclasses.field(default_factory=info.default_factory)
        else:
            default = dataclasses.field()
        specs.append((info.name, struct.__annotations__[info.name], default))
    return dataclasses.make_dataclass(
        struct.__name__,
        specs,
        namespace={"__module__": __name__, "__doc__": struct.__doc__},
        frozen=True,
        slots=True,
    )


for _struct in vars(model).copy().values():
    if isinstance(_struct, type) and issubclass(_struct, msgspec.Struct):
        globals()[_struct.__name__] = _twin(_struct)


# --------------------------------------------------------------------------- new: twins


def from_struct(value: Any) -> Any:
    """``value`` with every Struct of ``scanner.core.model`` (and every enum) inside it
    replaced by its namesake here; tuples, dicts and scalars as they are."""
    if isinstance(value, msgspec.Struct):
        twin = globals()[type(value).__name__]
        return twin(**{n: from_struct(getattr(value, n)) for n in value.__struct_fields__})
    if isinstance(value, enum.Enum):
        return value  # the same enums
    if type(value) is tuple:
        return tuple(from_struct(v) for v in value)
    if type(value) is dict:
        return {k: from_struct(v) for k, v in value.items()}
    return value
