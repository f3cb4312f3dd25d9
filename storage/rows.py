"""What every stored item has: an opaque random id, and UTC timestamps."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

ID_LENGTH = 32  # 128 random bits in hex
ID_PATTERN = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")  # opaque, not sequential


def new_id() -> str:
    return secrets.token_hex(ID_LENGTH // 2)


def is_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def now() -> datetime:
    return datetime.now(timezone.utc)
