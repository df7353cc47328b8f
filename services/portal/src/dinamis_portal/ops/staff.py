"""A DINAMIS staff member as the console sees them, and the console's refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dinamis_portal.errors import PortalError
from dinamis_portal.sessions import Session

STAFF_ROLES = frozenset({"operator", "admin"})


@dataclass(frozen=True)
class Staff:
    """An operator (or admin) of the platform, with the access token the console calls
    the services with on their behalf."""

    user_id: str
    email: str
    name: str
    roles: frozenset[str]
    token: str = field(repr=False)  # never in a log line or a traceback
    session: Session = field(repr=False)

    @property
    def admin(self) -> bool:
        return "admin" in self.roles

    def actor(self) -> dict[str, Any]:
        """How the journal names them."""
        return {"user_id": self.user_id, "email": self.email, "name": self.name, "roles": sorted(self.roles)}


def staff_only() -> PortalError:
    return PortalError(
        "this page is for DINAMIS staff only",
        code="staff-only",
        message_fr="page réservée au personnel DINAMIS",
        status=403,
    )


def admins_only() -> PortalError:
    return PortalError(
        "this action is for DINAMIS administrators only",
        code="admin-only",
        message_fr="action réservée aux administrateurs DINAMIS",
        status=403,
    )
