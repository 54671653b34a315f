"""The register of biomass suppliers' sustainability declarations (RED II Art. 29 criteria).

HQ and admins record a declaration for one factory's fuel (firewood, briquettes, charcoal) with its
supplier, scheme, reference and validity; a declaration is never edited: a wrong or revoked one is
withdrawn (`withdrawn_at`) and a new one recorded. CBAM-rule figures zero-rate a fuel's biomass CO2
only for a month the declaration covers whole (`core.reporting.period_data`). Every change is
audit-logged.

A declaration is also the fuel lot a laboratory NCV belongs to (issue 14): `add_lab_ncv` records a
measured NCV (MJ/kg, dry or as received at a stated moisture) with its certificate (an evidence
file attached to the declaration); the monthly inventory uses it for the factory's entries of that
fuel in every month the lot's validity overlaps, instead of the IPCC default.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.access import AccessDenied, UserLike, allowed_factory_ids, can_approve
from core.audit import record_audit
from core.emissions import SOLID_FUELS
from core.evidence.files import EvidenceError
from core.models import (
    NCV_BASIS_AS_RECEIVED,
    NCV_BASIS_DRY,
    EvidenceFile,
    Factory,
    LabNcv,
    SupplierDeclaration,
)
from core.timeutil import utcnow

TEXT_LIMITS = {"supplier": 120, "scheme": 120, "reference": 120}
LAB_TEXT_LIMITS = {"lab": 120, "certificate_ref": 120}
# A laboratory NCV outside this range is a typing error: IPCC 2006 Vol 2 Ch 1 Table 1.2 gives wood/wood
# waste 7.9–31.0 TJ/Gg and charcoal up to 58.0 (lower/upper limits); dry wood is about 19 MJ/kg.
LAB_NCV_RANGE_MJ_PER_KG = (5.0, 60.0)
LAB_MOISTURE_RANGE = (0.0, 0.7)  # wet basis; fresh wood is about 50 %


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


def add_lab_ncv(session: Session, user: UserLike | None, declaration_id: int, ncv_mj_per_kg: float, basis: str,
                lab: str, certificate_ref: str, moisture_fraction: float | None = None,
                evidence_file_id: int | None = None, sampled_on: date | None = None) -> LabNcv:
    """Record a laboratory NCV for a fuel lot (a declaration) after checking every field; HQ and admins only.

    `basis` is "dry" or "as_received"; an as-received value needs the sample's moisture (wet basis).
    The certificate, if given, must be an evidence file attached to the same declaration.
    """
    if not can_approve(user):
        raise AccessDenied("only HQ and administrators record laboratory NCVs")
    decl = session.get(SupplierDeclaration, declaration_id)
    if decl is None:
        raise EvidenceError("no such fuel lot (supplier declaration)")
    lo, hi = LAB_NCV_RANGE_MJ_PER_KG
    try:
        ncv = float(ncv_mj_per_kg)
    except (TypeError, ValueError):
        raise EvidenceError("NCV: a number in MJ/kg") from None
    if not lo <= ncv <= hi:  # also refuses NaN
        raise EvidenceError(f"NCV: {lo:g} to {hi:g} MJ/kg")
    if basis not in (NCV_BASIS_AS_RECEIVED, NCV_BASIS_DRY):
        raise EvidenceError("moisture basis: 'dry' or 'as_received'")
    if moisture_fraction is not None:
        mlo, mhi = LAB_MOISTURE_RANGE
        try:
            moisture_fraction = float(moisture_fraction)
        except (TypeError, ValueError):
            raise EvidenceError("moisture: a fraction, e.g. 0.25") from None
        if not mlo <= moisture_fraction <= mhi:
            raise EvidenceError(f"moisture: a fraction from {mlo:g} to {mhi:g} (wet basis)")
    if basis == NCV_BASIS_AS_RECEIVED and moisture_fraction is None:
        raise EvidenceError("an as-received NCV needs the sample's moisture (wet basis)")
    texts = {"lab": lab, "certificate_ref": certificate_ref}
    for name, value in texts.items():
        value = (value or "").strip()
        if not value or len(value) > LAB_TEXT_LIMITS[name]:
            raise EvidenceError(f"{name}: 1 to {LAB_TEXT_LIMITS[name]} characters")
        texts[name] = value
    if evidence_file_id is not None:
        ev = session.get(EvidenceFile, evidence_file_id)
        if ev is None or ev.declaration_id != decl.id:
            raise EvidenceError("the certificate must be a file attached to this fuel lot's declaration")
    row = LabNcv(declaration_id=decl.id, factory_id=decl.factory_id, source=decl.source, ncv_mj_per_kg=ncv,
                 basis=basis, moisture_fraction=moisture_fraction, evidence_file_id=evidence_file_id,
                 sampled_on=sampled_on, recorded_by=getattr(user, "username", None), **texts)
    session.add(row)
    session.flush()
    record_audit(session, user, "create", "lab_ncv", entity_id=str(row.id), factory_id=decl.factory_id,
                 detail=f"{decl.source} lot {decl.supplier} {decl.reference}: NCV {ncv:g} MJ/kg ({basis}"
                        + (f", moisture {moisture_fraction:g}" if moisture_fraction is not None else "")
                        + f"), {texts['lab']} {texts['certificate_ref']}")
    return row


def withdraw_lab_ncv(session: Session, user: UserLike | None, lab_ncv_id: int, now: datetime | None = None) -> LabNcv:
    """Withdraw a wrong laboratory NCV (reports made with it keep it; new ones use the default)."""
    if not can_approve(user):
        raise AccessDenied("only HQ and administrators record laboratory NCVs")
    row = session.get(LabNcv, lab_ncv_id)
    if row is None:
        raise EvidenceError("no such laboratory NCV")
    if row.withdrawn_at is None:
        row.withdrawn_at = now or utcnow()
        record_audit(session, user, "withdraw", "lab_ncv", entity_id=str(row.id), factory_id=row.factory_id)
    return row


def visible_lab_ncvs(session: Session, user: UserLike | None) -> list[LabNcv]:
    """Laboratory NCVs of the factories `user` may see, newest first."""
    ids = allowed_factory_ids(session, user)
    if not ids:
        return []
    return list(session.scalars(sa.select(LabNcv).where(LabNcv.factory_id.in_(ids)).order_by(LabNcv.id.desc())))
