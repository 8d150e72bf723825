"""The service catalogue: what an organization's nurses do at home, at what price."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from homecare.clock import utcnow
from homecare.db import Base

CATEGORIES = ("basic", "tube", "rehabilitation", "elderly", "tcm", "maternal_infant",
              "wound_ostomy")

# Titles in ascending order (护士, 护师, 主管护师, 副主任护师, 主任护师): comparisons
# of "at least this title" use the index in this tuple.
TITLES = ("nurse", "senior_nurse", "supervisor_nurse", "associate_chief_nurse", "chief_nurse")


# The controlled skill vocabulary: catalogue items require these and nurses hold
# them, so matching is set inclusion. Adding a skill is a code change on purpose:
# a free-text skill would silently match nothing.
SKILLS: dict[str, tuple[str, str]] = {
    "vital_signs": ("生命体征监测", "Vital signs"),
    "blood_sampling": ("静脉采血", "Venous blood sampling"),
    "injection": ("注射", "Intramuscular and subcutaneous injection"),
    "glucose_monitoring": ("血糖监测", "Blood glucose monitoring"),
    "medication_guidance": ("用药指导", "Medication guidance"),
    "urinary_catheter": ("导尿管护理", "Urinary catheter care"),
    "nasogastric_tube": ("胃管护理", "Nasogastric tube care"),
    "picc_maintenance": ("PICC维护", "PICC line maintenance"),
    "tracheostomy_care": ("气管切开护理", "Tracheostomy care"),
    "rehabilitation": ("康复训练", "Rehabilitation exercise"),
    "swallowing_training": ("吞咽训练", "Swallowing training"),
    "pressure_injury": ("压力性损伤护理", "Pressure injury prevention and care"),
    "feeding": ("喂养护理", "Feeding assistance"),
    "enema": ("灌肠", "Enema and bowel care"),
    "geriatric_assessment": ("老年综合评估", "Comprehensive geriatric assessment"),
    "moxibustion": ("艾灸", "Moxibustion"),
    "cupping": ("拔罐", "Cupping"),
    "acupressure": ("穴位按摩", "Acupressure"),
    "gua_sha": ("刮痧", "Gua sha"),
    "postnatal_care": ("产后护理", "Postnatal care"),
    "newborn_care": ("新生儿护理", "Newborn care"),
    "breastfeeding": ("母乳喂养指导", "Breastfeeding support"),
    "wound_care": ("伤口护理", "Wound care"),
    "ostomy_care": ("造口护理", "Ostomy care"),
}


def title_rank(title: str) -> int:
    return TITLES.index(title)


class ServiceItem(Base):
    """One orderable item. Orders copy its price, so changes never reprice them."""

    __tablename__ = "service_items"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(150))
    category: Mapped[str] = mapped_column(sa.String(30), index=True)
    duration_min: Mapped[int]
    required_skills: Mapped[list] = mapped_column(sa.JSON, default=list)
    min_title: Mapped[str] = mapped_column(sa.String(30), default="senior_nurse")
    price_fen: Mapped[int]
    requires_assessment: Mapped[bool] = mapped_column(default=False)
    procedures: Mapped[list] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
