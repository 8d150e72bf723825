"""The audit trail: append an entry. Never update or delete. A leaf: it imports no domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from homecare.audit.models import AuditEntry
from homecare.auth import Actor


def record(session: Session, *, actor: Actor | None, action: str, object_type: str,
           object_id: int, organization_id: int | None, now: datetime,
           detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append who did ``action`` to which object, when and from where (no commit).

    Written in the caller's transaction, so the record exists exactly when the
    change (or the read) it describes does.
    """
    entry = AuditEntry(at=now, actor_id=actor.user_id if actor else None,
                       actor_role=actor.role if actor else "system", action=action,
                       object_type=object_type, object_id=object_id,
                       organization_id=organization_id, ip=actor.ip if actor else None,
                       detail=detail)
    session.add(entry)
    return entry
