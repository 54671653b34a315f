"""The register of biomass suppliers' sustainability declarations (RED II Art. 29 criteria).

HQ and admins record a declaration for one factory's fuel (firewood, briquettes, charcoal) with its
supplier, scheme, reference and validity; a declaration is never edited: a wrong or revoked one is
withdrawn (`withdrawn_at`) and a new one recorded. CBAM-rule figures zero-rate a fuel's biomass CO2
only for a month the declaration covers whole (`core.reporting.period_data`). Every change is
audit-logged.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, UserLike, allowed_factory_ids, can_approve
from core.audit import record_audit
from core.emissions import SOLID_FUELS
from core.evidence.files import EvidenceError
from core.models import Factory, SupplierDeclaration
from core.timeutil import utcnow

TEXT_LIMITS = {"supplier": 120, "scheme": 120, "reference": 120}


def add_declaration(session: Session, user: UserLike | None, factory_id: int, source: str, supplier: str,
                    scheme: str, reference: str, valid_from: date, valid_to: date) -> SupplierDeclaration:
    """Record a declaration after checking every field (the caller commits); HQ and admins only."""
    if not can_approve(user):
        raise AccessDenied("only HQ and administrators keep the supplier register")
    if session.get(Factory, factory_id) is None:
        raise EvidenceError("no such factory")
    if source not in SOLID_FUELS:
        raise EvidenceError(f"a declaration covers a biomass fuel: one of {', '.join(sorted(SOLID_FUELS))}")
    texts = {"supplier": supplier, "scheme": scheme, "reference": reference}
    for name, value in texts.items():
        value = (value or "").strip()
        if not value or len(value) > TEXT_LIMITS[name]:
            raise EvidenceError(f"{name}: 1 to {TEXT_LIMITS[name]} characters")
        texts[name] = value
    if not isinstance(valid_from, date) or not isinstance(valid_to, date) or valid_to < valid_from:
        raise EvidenceError("the validity must be two dates with 'valid to' on or after 'valid from'")
    row = SupplierDeclaration(factory_id=factory_id, source=source, valid_from=valid_from, valid_to=valid_to,
                              recorded_by=getattr(user, "username", None), **texts)
    session.add(row)
    session.flush()
    record_audit(session, user, "create", "supplier_declaration", entity_id=str(row.id), factory_id=factory_id,
                 detail=f"{source} from {texts['supplier']}, {texts['scheme']} {texts['reference']}, "
                        f"valid {valid_from} to {valid_to}")
    return row


def withdraw_declaration(session: Session, user: UserLike | None, declaration_id: int,
                         now: datetime | None = None) -> SupplierDeclaration:
    """Withdraw a declaration (it stops counting from the next report); audit-logged."""
    if not can_approve(user):
        raise AccessDenied("only HQ and administrators keep the supplier register")
    # Locked and read afresh: two people withdrawing at once give one withdrawal and one audit row.
    row = session.get(SupplierDeclaration, declaration_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise EvidenceError("no such declaration")
    if row.withdrawn_at is None:
        row.withdrawn_at = now or utcnow()
        record_audit(session, user, "withdraw", "supplier_declaration", entity_id=str(row.id),
                     factory_id=row.factory_id)
    return row


def visible_declarations(session: Session, user: UserLike | None) -> list[SupplierDeclaration]:
    """Declarations of the factories `user` may see, newest first."""
    ids = allowed_factory_ids(session, user)
    if not ids:
        return []
    return list(session.scalars(sa.select(SupplierDeclaration).where(SupplierDeclaration.factory_id.in_(ids))
                                .order_by(SupplierDeclaration.valid_from.desc(), SupplierDeclaration.id.desc())))
