"""A phone in a request body: a plain string as people type it, or ``{"raw", "label"}``.

People and scripts write ``"phones": ["+7 495 123-45-67"]`` first; the object form adds a label.
Both read into one ``PhoneIn``, and the OpenAPI document shows both shapes (``anyOf``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from crmlite.domain.phones import MAX_RAW_LENGTH
from crmlite.services.phones import PhoneInput
from crmlite.web.schemas import ApiModel

PHONE_EXAMPLE = "8 (495) 123 45 67"


class PhoneIn(ApiModel):
    raw: str = Field(min_length=1, max_length=MAX_RAW_LENGTH, examples=[PHONE_EXAMPLE])
    label: str | None = Field(None, max_length=32, examples=["mobile"])

    @model_validator(mode="before")
    @classmethod
    def _plain_string(cls, data: Any) -> Any:
        """A bare string is the number as typed, without a label."""
        return {"raw": data} if isinstance(data, str) else data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        shape = handler.resolve_ref_schema(handler(core_schema))
        return {
            "description": "a phone as typed, or an object with the number and a label",
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_RAW_LENGTH,
                    "examples": ["+7 495 123-45-67"],
                },
                {
                    "type": "object",
                    "properties": shape["properties"],
                    "required": shape["required"],
                    "additionalProperties": False,
                },
            ],
        }

    def to_input(self) -> PhoneInput:
        """The service's phone input."""
        return PhoneInput(self.raw, self.label)
