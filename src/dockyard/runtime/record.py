"""`@record`: a dataclass-like decorator that costs almost nothing at import time.

dataclasses generates code with exec() for every class (about 1 ms each); `dockyard-runc`
starts for every container, so its value classes use this instead. mypy understands it
through dataclass_transform. List and dict defaults are copied per instance.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T", bound=type)
else:
    # typing costs milliseconds to import; at run time the decorator needs nothing from it.
    def dataclass_transform():  # type: ignore[no-untyped-def]
        return lambda f: f


@dataclass_transform()
def record(cls: T) -> T:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for n in vars(klass).get("__annotations__", {}):
            if n not in names:
                names.append(n)
    defaults = {n: getattr(cls, n) for n in names if hasattr(cls, n)}

    def __init__(self: Any, *args: Any, **kw: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}: too many arguments")
        for n, v in zip(names, args, strict=False):
            kw[n] = v
        for n in names:
            if n in kw:
                v = kw.pop(n)
            elif n in defaults:
                d = defaults[n]
                v = list(d) if isinstance(d, list) else dict(d) if isinstance(d, dict) else d
            else:
                raise TypeError(f"{cls.__name__}: missing argument {n!r}")
            object.__setattr__(self, n, v)
        if kw:
            raise TypeError(f"{cls.__name__}: unexpected arguments {sorted(kw)}")

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{cls.__name__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    cls.__init__ = __init__  # type: ignore[misc]
    cls.__repr__ = __repr__  # type: ignore[assignment]
    cls.__eq__ = __eq__  # type: ignore[assignment]
    cls.__hash__ = None  # type: ignore[assignment]
    cls.__record_fields__ = tuple(names)  # type: ignore[attr-defined]
    return cls


def as_dict(obj: Any) -> dict[str, Any]:
    return {n: getattr(obj, n) for n in obj.__record_fields__}
