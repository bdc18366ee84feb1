"""The fields an import fills, and the header names (English, Russian, Chinese) that map to them.

A header is mapped by name, in any letter case, spaces and punctuation aside (``name``, ``ФИО``,
``姓名``); a person may change the mapping before the run, and ``check_mapping`` holds it to what a
row needs.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

from crmlite.domain.errors import InvalidInput


class ImportKind(enum.StrEnum):
    CONTACTS = "contacts"
    DEALS = "deals"


# Fields of each kind, and the header names (any letter case, spaces and punctuation aside) that
# map to them. ``phone`` and ``email`` may come from several columns; the others from one.
CONTACT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "full name",
        "contact",
        "contact name",
        "person",
        "фио",
        "имя и фамилия",
        "контакт",
        "контактное лицо",
        "姓名",
        "名字",
        "联系人",
        "联系人姓名",
    ),
    "first_name": ("first name", "given name", "имя", "名"),
    "last_name": ("last name", "surname", "family name", "фамилия", "姓"),
    "company": (
        "company",
        "organization",
        "organisation",
        "account",
        "компания",
        "организация",
        "фирма",
        "公司",
        "公司名称",
        "单位",
        "客户",
    ),
    "phone": (
        "phone",
        "phones",
        "telephone",
        "tel",
        "mobile",
        "cell",
        "work phone",
        "телефон",
        "телефоны",
        "мобильный",
        "моб телефон",
        "рабочий телефон",
        "电话",
        "手机",
        "联系电话",
        "电话号码",
        "手机号",
    ),
    "email": (
        "email",
        "e-mail",
        "emails",
        "mail",
        "почта",
        "электронная почта",
        "эл почта",
        "邮箱",
        "电子邮件",
        "电子邮箱",
    ),
    "owner": (
        "owner",
        "responsible",
        "seller",
        "manager",
        "ответственный",
        "владелец",
        "менеджер",
        "负责人",
        "所有者",
        "销售代表",
    ),
}
DEAL_FIELDS: dict[str, tuple[str, ...]] = {
    "title": (
        "title",
        "deal",
        "deal name",
        "name",
        "название",
        "сделка",
        "название сделки",
        "商机",
        "商机名称",
        "名称",
        "标题",
    ),
    "amount": ("amount", "sum", "value", "budget", "сумма", "бюджет", "金额", "商机金额"),
    "currency": ("currency", "валюта", "币种", "货币"),
    "pipeline": ("pipeline", "funnel", "воронка", "销售管道", "管道"),
    "stage": ("stage", "status", "этап", "статус", "阶段", "商机阶段"),
    "owner": CONTACT_FIELDS["owner"],
    "contact": ("contact", "client", "customer", "контакт", "клиент", "联系人", "客户"),
    "phone": CONTACT_FIELDS["phone"],
    "email": CONTACT_FIELDS["email"],
    "expected_close_date": (
        "expected close date",
        "close date",
        "expected close",
        "дата закрытия",
        "ожидаемая дата закрытия",
        "预计成交日期",
        "预计结束日期",
    ),
    "created_at": (
        "created",
        "created at",
        "created date",
        "date created",
        "date",
        "дата создания",
        "создана",
        "дата",
        "创建日期",
        "创建时间",
    ),
    "lost_reason": (
        "lost reason",
        "loss reason",
        "reason",
        "причина отказа",
        "причина",
        "输单原因",
    ),
}
FIELDS: dict[ImportKind, dict[str, tuple[str, ...]]] = {
    ImportKind.CONTACTS: CONTACT_FIELDS,
    ImportKind.DEALS: DEAL_FIELDS,
}
MULTI_COLUMN_FIELDS = frozenset({"phone", "email"})
_HEADER_NOISE = re.compile(r"[\s_\-.:;,()#№*/]+")


def header_key(name: str) -> str:
    """A header name as matched: case-folded, ё as е, spaces and punctuation dropped."""
    return _HEADER_NOISE.sub("", name.casefold().replace("ё", "е"))


_ALIASES: dict[ImportKind, dict[str, str]] = {
    kind: {header_key(alias): name for name, aliases in fields.items() for alias in aliases}
    for kind, fields in FIELDS.items()
}


def propose_mapping(header: Sequence[str], kind: ImportKind) -> list[str | None]:
    """The field of each column by its name (None: not imported); a single field maps once."""
    aliases = _ALIASES[kind]
    taken: set[str] = set()
    mapping: list[str | None] = []
    for name in header:
        key = header_key(name)
        field = aliases.get(key) or aliases.get(key.rstrip("0123456789"))
        if field is not None and field in taken and field not in MULTI_COLUMN_FIELDS:
            field = None
        if field is not None:
            taken.add(field)
        mapping.append(field)
    return mapping


def check_mapping(mapping: Sequence[str | None], header: Sequence[str], kind: ImportKind) -> None:
    """Refuse a mapping of the wrong width, to unknown fields, or missing what a row needs."""
    if len(mapping) != len(header):
        raise InvalidInput(
            "the mapping does not fit the file",
            fields={"mapping": f"one entry per column: {len(header)} expected"},
        )
    known = FIELDS[kind]
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for index, field in enumerate(mapping):
        if field is None:
            continue
        if field not in known:
            problems[f"mapping.{index}"] = f"unknown field {field!r}"
        elif field in seen and field not in MULTI_COLUMN_FIELDS:
            problems[f"mapping.{index}"] = f"{field} is mapped twice"
        seen.add(field)
    needed = (
        {"name", "first_name", "last_name", "company"} if kind is ImportKind.CONTACTS else {"title"}
    )
    if not seen & needed:
        problems["mapping"] = "map a column to " + " or ".join(sorted(needed))
    if problems:
        raise InvalidInput("the mapping cannot be used", fields=problems)
