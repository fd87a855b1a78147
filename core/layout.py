"""The layout of one frame: its channels in order, which form vector fields and which are scalars.

Written once here and read by everything that handles frames: the rotation of stacked frames
(core.symmetry: a vector field's components are mixed as a vector, a scalar only moves with
the grid), the loss weights (core.train.trainer.step_loss: ``smoke_weight`` weighs the scalar
channels), the models' channel counts (core.models.config.ModelConfig.frame_layout) and the
frames a model reads (core.train.samples.frames_for). It is stored in the dataset files'
attributes (core.data.store) and in checkpoints (core.store.runs.save_checkpoint); see
docs/DATA_FORMAT.md.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The kinds of field a frame holds: a 2-vector (two channels, turned as a vector) or a scalar.
KINDS = ("vector", "scalar")


@dataclass(frozen=True)
class Field:
    """One field of a frame: ``name`` (e.g. "velocity"), ``kind`` ("vector" or "scalar") and the
    names of its channels, in order (a vector's x component first)."""

    name: str
    kind: str
    channels: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))
        need = 2 if self.kind == "vector" else 1
        if len(self.channels) != need:
            raise ValueError(f"field {self.name!r}: a {self.kind} has {need} channel(s), got {self.channels}")


@dataclass(frozen=True)
class FrameLayout:
    """The ordered fields of one frame; a model tensor ``(B, C*F, N, N)`` holds F frames of
    ``size`` channels each, in this order."""

    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if not self.fields:
            raise ValueError("a frame layout needs at least one field")
        names = [c for f in self.fields for c in f.channels]
        if len(set(names)) != len(names):
            raise ValueError(f"a frame layout's channel names must differ, got {names}")

    @property
    def channels(self) -> tuple[str, ...]:
        """The channel names of one frame, in order (e.g. ``("vx", "vy", "smoke")``)."""
        return tuple(c for f in self.fields for c in f.channels)

    @property
    def size(self) -> int:
        """The number of channels of one frame."""
        return len(self.channels)

    def _starts(self) -> list[int]:
        starts, at = [], 0
        for f in self.fields:
            starts.append(at)
            at += len(f.channels)
        return starts

    @property
    def vector_slices(self) -> tuple[slice, ...]:
        """The channel ranges of the vector fields, in order (each two channels: x, y)."""
        starts = zip(self._starts(), self.fields, strict=True)
        return tuple(slice(s, s + 2) for s, f in starts if f.kind == "vector")

    @property
    def scalar_indices(self) -> tuple[int, ...]:
        """The channel indices of the scalar fields, in order."""
        return tuple(s for s, f in zip(self._starts(), self.fields, strict=True) if f.kind == "scalar")

    @property
    def velocity(self) -> slice:
        """The channels of the velocity (the field named "velocity"); every error is of it."""
        for s, f in zip(self._starts(), self.fields, strict=True):
            if f.name == "velocity":
                return slice(s, s + len(f.channels))
        raise ValueError(f"this frame layout has no velocity field: {self.channels}")

    @property
    def has_scalars(self) -> bool:
        """True if a frame holds any scalar field (today: the smoke)."""
        return bool(self.scalar_indices)

    @property
    def field_types(self) -> str:
        """The fields' kinds joined by "+" (e.g. "vector+scalar"): the steerable models' frame type
        (core.models.basis)."""
        return "+".join(f.kind for f in self.fields)

    def channel_weights(self, scalar_weight: float) -> tuple[float, ...]:
        """One weight per channel: 1 for each vector component, ``scalar_weight`` for each scalar."""
        scalars = set(self.scalar_indices)
        return tuple(float(scalar_weight) if i in scalars else 1.0 for i in range(self.size))

    def to_dict(self) -> dict:
        """A JSON-ready dict: ``{"fields": [{"name", "kind", "channels"}, ...]}``."""
        fields = [{"name": f.name, "kind": f.kind, "channels": list(f.channels)} for f in self.fields]
        return {"fields": fields}

    @classmethod
    def from_dict(cls, d: dict) -> FrameLayout:
        """Rebuild a layout from :meth:`to_dict` output; ValueError names what is wrong."""
        if isinstance(d, FrameLayout):
            return d
        if not isinstance(d, dict) or set(d) != {"fields"} or not isinstance(d["fields"], list):
            raise ValueError(f"frame layout: expected {{'fields': [...]}}, got {d!r}")
        fields = []
        for f in d["fields"]:
            if not isinstance(f, dict) or set(f) != {"name", "kind", "channels"}:
                raise ValueError(f"frame layout: a field needs name, kind and channels, got {f!r}")
            fields.append(Field(str(f["name"]), f["kind"], tuple(f["channels"])))
        return cls(tuple(fields))

    @classmethod
    def for_smoke(cls, smoke: bool) -> FrameLayout:
        """The frame of a model that sees the smoke (``ModelConfig.smoke``): :data:`VELOCITY_SMOKE`,
        else :data:`VELOCITY`."""
        return VELOCITY_SMOKE if smoke else VELOCITY

    @classmethod
    def of_size(cls, channels: int) -> FrameLayout:
        """The layout used today with ``channels`` channels per frame (2: :data:`VELOCITY`, 3:
        :data:`VELOCITY_SMOKE`); ValueError for any other count."""
        for layout in (VELOCITY, VELOCITY_SMOKE):
            if layout.size == channels:
                return layout
        raise ValueError(
            f"a frame has {VELOCITY.size} ({', '.join(VELOCITY.channels)}) or {VELOCITY_SMOKE.size} "
            f"({', '.join(VELOCITY_SMOKE.channels)}) channels, got {channels}"
        )


VELOCITY_FIELD = Field("velocity", "vector", ("vx", "vy"))
#: The velocity alone: channels vx, vy.
VELOCITY = FrameLayout((VELOCITY_FIELD,))
#: The velocity and the smoke density: channels vx, vy, smoke (what a dataset file holds).
VELOCITY_SMOKE = FrameLayout((VELOCITY_FIELD, Field("smoke", "scalar", ("smoke",))))


#: The channel counts of the layouts used today (what a bare channel count may name).
FRAME_SIZES = (VELOCITY.size, VELOCITY_SMOKE.size)


def as_layout(layout: FrameLayout | int) -> FrameLayout:
    """``layout`` itself, or for a channel count the layout used today with that many channels
    (:meth:`FrameLayout.of_size`)."""
    if isinstance(layout, FrameLayout):
        return layout
    if isinstance(layout, bool) or not isinstance(layout, int):
        raise ValueError(f"frame layout: expected a FrameLayout or a channel count, got {layout!r}")
    return FrameLayout.of_size(layout)
