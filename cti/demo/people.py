"""Who the demo's customers are: names in Russian, Chinese, Persian and English, their companies,
numbers and emails, drawn from a seeded ``random.Random`` so the same seed gives the same people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

RU_MALE = ("Иван", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Николай", "Павел", "Олег")
RU_FEMALE = ("Ирина", "Ольга", "Елена", "Анна", "Мария", "Татьяна", "Наталья", "Светлана")
RU_SURNAMES = ("Петров", "Смирнов", "Кузнецов", "Волков", "Соколов", "Морозов", "Лебедев", "Орлов")
ZH_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴")
ZH_GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "军", "杰", "涛")
FA_FIRST = ("علی", "محمد", "رضا", "حسین", "زهرا", "فاطمه", "مریم", "سارا", "امیر", "نرگس")
FA_LAST = ("رضایی", "احمدی", "محمدی", "حسینی", "کریمی", "موسوی", "جعفری", "صادقی", "رحیمی")
EN_FIRST = ("James", "Emma", "Oliver", "Sophia", "Liam", "Ava", "Noah", "Mia", "Ethan", "Grace")
EN_LAST = ("Smith", "Johnson", "Brown", "Taylor", "Wilson", "Clark", "Walker", "Hall", "Young")

COMPANIES = {
    "ru": ("ООО Ромашка", "АвтоПарк", "Вектор", "СтройМаш", "Логистика Плюс", "ТехноСфера"),
    "zh": ("华信贸易", "长城汽车经销", "东方物流", "金龙科技", "海天建材", "盛世运输"),
    "fa": ("پارس تجارت", "کویر موتور", "آریا لجستیک", "سپهر صنعت", "نگین خودرو"),
    "en": ("Northwind", "Contoso", "Fabrikam", "Blue Yonder", "Tailspin Toys", "Wingtip"),
}
MAIL_HOSTS = {"ru": "mail.ru", "zh": "qq.com", "fa": "gmail.com", "en": "example.com"}
# Latin forms for email addresses, by the first letter picked (the demo's emails only).
_LATIN = {"ru": "client", "zh": "kehu", "fa": "moshtari", "en": ""}


@dataclass(frozen=True, slots=True)
class Person:
    """One demo customer before it is stored."""

    name: str
    culture: str  # ru, zh, fa, en
    company: str | None
    phones: tuple[str, ...]  # E.164
    email: str | None


def person_name(rng: random.Random, culture: str) -> str:
    """A plausible full name of ``culture``, written the way that culture writes it."""
    if culture == "ru":
        if rng.random() < 0.5:
            return f"{rng.choice(RU_MALE)} {rng.choice(RU_SURNAMES)}"
        return f"{rng.choice(RU_FEMALE)} {rng.choice(RU_SURNAMES)}а"
    if culture == "zh":
        given = rng.choice(ZH_GIVEN) + (rng.choice(ZH_GIVEN) if rng.random() < 0.6 else "")
        return rng.choice(ZH_SURNAMES) + given
    if culture == "fa":
        return f"{rng.choice(FA_FIRST)} {rng.choice(FA_LAST)}"
    return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"


class NumberPlan:
    """Unique customer numbers: Russian mobiles mostly, some Chinese and Iranian ones."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def number(self, culture: str) -> str:
        """A new, unused E.164 number fitting ``culture`` (Russia hosts most of the customers)."""
        while True:
            roll = self.rng.random()
            if culture == "zh" and roll < 0.4:
                candidate = f"+86139{self.rng.randrange(10**8):08d}"
            elif culture == "fa" and roll < 0.4:
                candidate = f"+98912{self.rng.randrange(10**7):07d}"
            else:
                operator = self.rng.choice((916, 926, 903, 985))
                candidate = f"+7{operator}{self.rng.randrange(10**7):07d}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate


def email_of(rng: random.Random, culture: str, name: str, index: int) -> str:
    """A demo email: ``first.last@host`` for English names, a numbered mailbox otherwise."""
    if culture == "en":
        first, _, last = name.partition(" ")
        return f"{first.lower()}.{last.lower()}{index}@{MAIL_HOSTS['en']}"
    return f"{_LATIN[culture]}{index}.{rng.randrange(100, 999)}@{MAIL_HOSTS[culture]}"


def draw_people(rng: random.Random, count: int, numbers: NumberPlan) -> list[Person]:
    """``count`` customers, a mix of the four cultures (Russian the largest share)."""
    people: list[Person] = []
    for index in range(count):
        culture = rng.choices(("ru", "zh", "fa", "en"), weights=(45, 25, 15, 15))[0]
        name = person_name(rng, culture)
        company = rng.choice(COMPANIES[culture]) if rng.random() < 0.7 else None
        phones = [numbers.number(culture)]
        if rng.random() < 0.15:
            phones.append(numbers.number(culture))
        email = email_of(rng, culture, name, index) if rng.random() < 0.55 else None
        people.append(Person(name, culture, company, tuple(phones), email))
    return people


def duplicate_pairs(numbers: NumberPlan) -> list[tuple[Person, Person]]:
    """Customers entered twice, the way it happens: another script, another phone, other case."""
    return [
        (
            Person("Ivan Petrov", "en", "Northwind", (numbers.number("ru"),), None),
            Person("Иван Петров", "ru", "Northwind", (numbers.number("ru"),), None),
        ),
        (
            Person("王伟", "zh", "华信贸易", (numbers.number("zh"),), "wangwei@qq.com"),
            Person("王伟", "zh", "华信贸易", (numbers.number("zh"),), None),
        ),
        (
            Person("Olga Kuznetsova", "en", "Вектор", (numbers.number("ru"),), "Olga.K@Vector.ru"),
            Person("Ольга Кузнецова", "ru", None, (numbers.number("ru"),), "olga.k@vector.ru"),
        ),
        (
            Person(
                "علی رضایی", "fa", "پارس تجارت", (numbers.number("fa"),), "ali.rezaei@gmail.com"
            ),
            Person(
                "Ali Rezaei", "en", "Pars Trade", (numbers.number("fa"),), "ALI.REZAEI@gmail.com"
            ),
        ),
        (
            Person("Anastasia Lebedeva", "en", "Lebedeva Design", (numbers.number("ru"),), None),
            Person("Анастасия Лебедева", "ru", "Lebedeva Design", (numbers.number("ru"),), None),
        ),
        (
            Person("李娜", "zh", "长城汽车经销", (numbers.number("zh"),), "lina@qq.com"),
            Person("Li Na", "en", "长城汽车经销", (numbers.number("zh"),), "LiNa@QQ.com"),
        ),
    ]
