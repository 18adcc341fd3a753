"""Who may consume a port, and in what form: the one access rule, free of heavy imports for the ``mesh`` command."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Access = Literal["public", "restricted", "private"]
ACCESS_LEVELS: tuple[str, ...] = ("public", "restricted", "private")


@dataclass(frozen=True)
class Clearance:
    """What a consumer of a ``restricted`` port is cleared for, as its producer grants it.

    Args:
        pii: Whether the consumer reads the port's PII columns in clear; uncleared
            consumers read them masked (see ``mesh_core.masking``).

    Example:
        >>> Clearance(pii=True).pii
        True
    """

    pii: bool = False


def clearances(consumers: Collection[str] | Mapping[str, Clearance]) -> dict[str, Clearance]:
    """``consumers`` as a mapping of domain to clearance; a plain list clears nobody for PII.

    Raises:
        TypeError: a value of the mapping is not a ``Clearance``.
    """
    if isinstance(consumers, Mapping):
        for name, clearance in consumers.items():
            if not isinstance(clearance, Clearance):
                raise TypeError(f"consumer {name!r} maps to {clearance!r}; use Clearance(pii=True) or Clearance()")
        return dict(consumers)
    return {name: Clearance() for name in consumers}


def may_consume(consumer: str, *, producer: str | None, access: str, consumers: Collection[str]) -> bool:
    """Whether domain ``consumer`` may read a port of domain ``producer`` under ``access``.

    A domain always reads its own ports; ``public`` ports are open to every domain,
    ``restricted`` ones to the domains in ``consumers``, ``private`` ones to none.

    Example:
        >>> may_consume("podcasts", producer="users", access="restricted", consumers=["podcasts"])
        True
    """
    if consumer == producer or access == "public":
        return True
    return access == "restricted" and consumer in consumers


@dataclass(frozen=True)
class ReadPolicy:
    """What a snapshot's producer decided about its readers; recorded in the snapshot's commit.

    Attributes:
        producer: The producing domain.
        access: ``public``, ``restricted`` or ``private``.
        consumers: The domains allowed to read a ``restricted`` port.
        pii_cleared: The consumers that read PII columns in clear.
        pii: The snapshot's PII columns.
    """

    producer: str
    access: str = "public"
    consumers: tuple[str, ...] = ()
    pii_cleared: tuple[str, ...] = ()
    pii: tuple[str, ...] = field(default_factory=tuple)

    @property
    def masks(self) -> bool:
        """Whether some reader other than the producer may read the PII columns masked (so a masked copy is due).

        Example:
            >>> ReadPolicy("users", "restricted", ("podcasts",), ("podcasts",), ("email",)).masks
            False
        """
        if not self.pii or self.access == "private":
            return False
        if self.access == "public":
            return True
        return any(consumer != self.producer and consumer not in self.pii_cleared for consumer in self.consumers)

    def to_record(self) -> dict[str, Any]:
        """The policy as JSON-ready commit metadata."""
        return {
            "producer": self.producer, "access": self.access, "consumers": list(self.consumers),
            "pii_cleared": list(self.pii_cleared), "pii": list(self.pii),
        }

    @classmethod
    def from_record(cls, recorded: Mapping[str, Any]) -> ReadPolicy:
        """The policy a commit recorded."""
        return cls(
            producer=str(recorded["producer"]), access=str(recorded.get("access", "public")),
            consumers=tuple(recorded.get("consumers") or ()), pii_cleared=tuple(recorded.get("pii_cleared") or ()),
            pii=tuple(recorded.get("pii") or ()),
        )


@dataclass(frozen=True)
class Decision:
    """The outcome of one read check.

    Attributes:
        decision: ``allowed``, ``masked`` or ``refused``.
        policy: What decided, e.g. ``access:restricted`` or ``pii:masked``.
        masked: The columns the reader receives masked.
        reason: Why a read was refused, naming reader, port and access.
    """

    decision: str
    policy: str
    masked: tuple[str, ...] = ()
    reason: str | None = None


def decide(reader: str | None, port_id: str, policy: ReadPolicy | None) -> Decision:
    """Whether ``reader`` (a domain, or ``None`` for an anonymous reader) may read ``port_id``, and masked how.

    A snapshot that records no policy was published before policies were recorded: only
    its producer reads it, until ``mesh store migrate`` stamps it with the port's policy.
    An anonymous reader reads public ports only.

    Example:
        >>> decide("artists", "users.profiles", ReadPolicy("users", "restricted", ("artists",), (), ("email",))).masked
        ('email',)
    """
    if policy is None:
        if reader is not None and reader == port_id.split(".")[0]:
            return Decision("allowed", "access:unrecorded")
        who = "an anonymous reader" if reader is None else f"domain {reader}"
        return Decision(
            "refused", "access:unrecorded",
            reason=f"{who} may not read {port_id}: its snapshot was published before read policies were recorded, "
                   "so only its producer reads it; run `mesh store migrate` to stamp it with the port's policy, "
                   "or publish the port again",
        )
    rule = f"access:{policy.access}"
    if reader is None:
        allowed = policy.access == "public"
    else:
        allowed = may_consume(reader, producer=policy.producer, access=policy.access, consumers=policy.consumers)
    if not allowed:
        who = "an anonymous reader" if reader is None else f"domain {reader}"
        listed = ", ".join(policy.consumers) or "none"
        allowed_list = f" (its consumers: {listed})" if policy.access == "restricted" else ""
        hint = "; name the reading domain (PortStore(..., reader=...))" if reader is None else ""
        return Decision(
            "refused", rule,
            reason=f"{who} may not read {port_id}: its access is {policy.access}{allowed_list}{hint}",
        )
    masked = tuple(policy.pii) if reader != policy.producer and reader not in policy.pii_cleared else ()
    if masked:
        return Decision("masked", "pii:masked", masked)
    return Decision("allowed", rule)
