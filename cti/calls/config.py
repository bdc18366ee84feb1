"""What the call model needs to know about the PBX to tell inbound, outbound and internal apart."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CallModelConfig:
    """Trunk endpoints, dial-plan contexts and the shape of an agent extension."""

    trunk_endpoints: tuple[str, ...] = ("trunk",)
    inbound_contexts: tuple[str, ...] = ("from-trunk",)
    internal_contexts: tuple[str, ...] = ("from-internal",)
    extension_pattern: str = r"^\d{2,5}$"
    # Trunks to the company's other offices (PBXs): a call over one is between colleagues.
    office_trunk_endpoints: tuple[str, ...] = ()
    _extension_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_extension_re", re.compile(self.extension_pattern))

    def is_extension(self, number: str | None) -> bool:
        """True when ``number`` looks like an internal extension (``101``), not a customer."""
        return bool(number) and self._extension_re.match(number or "") is not None

    def is_external_number(self, number: str | None) -> bool:
        """True for a dialled customer number (``+7916...``, ``8916...``), not an extension."""
        if not number or self.is_extension(number):
            return False
        digits = number[1:] if number.startswith("+") else number
        return digits.isdigit()

    def is_trunk_endpoint(self, endpoint: str) -> bool:
        """True when ``endpoint`` (``trunk`` of ``PJSIP/trunk-0000001``) is a provider trunk."""
        return endpoint in self.trunk_endpoints or endpoint in self.office_trunk_endpoints

    def is_office_trunk(self, endpoint: str) -> bool:
        """True when ``endpoint`` is a trunk to another office's PBX (internal, not a customer)."""
        return endpoint in self.office_trunk_endpoints
