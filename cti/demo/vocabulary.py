"""The demo's own words in the install's language: its extra pipelines, deal topics, loss reasons,
campaigns and notes (the product's own strings are in ``crmlite.domain.product_text``).
"""

from __future__ import annotations

from dataclasses import dataclass

# (name, kind, probability) after Unsorted; every pipeline ends with its won and lost stages.
StageRow = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class DemoWords:
    pipelines: dict[str, tuple[StageRow, ...]]
    topics: tuple[str, ...]
    loss_reasons: tuple[str, ...]
    campaigns: tuple[str, ...]  # search ads, radio, web form, exhibition
    notes: tuple[str, ...]
    pool_release_reasons: tuple[str, ...]


WORDS: dict[str, DemoWords] = {
    "en": DemoWords(
        pipelines={
            "New cars": (
                ("Test drive", "open", 30),
                ("Offer", "open", 60),
                ("Contract", "open", 85),
            ),
            "Used cars": (("Inspection", "open", 25), ("Price agreed", "open", 70)),
            "Service": (("Diagnosis", "open", 40), ("Repair", "open", 80)),
        },
        topics=("fleet order", "new model", "trade-in", "service contract", "spare parts"),
        loss_reasons=("Price too high", "Chose a competitor", "No budget", "Not reachable"),
        campaigns=("Search ads", "Radio", "Website form", "Motor show"),
        notes=(
            "Asked about delivery times",
            "Wants a discount for three cars",
            "Send the price list",
        ),
        pool_release_reasons=("Not our customer", "Moved to another city", "No answer for months"),
    ),
    "ru": DemoWords(
        pipelines={
            "Новые авто": (
                ("Тест-драйв", "open", 30),
                ("Предложение", "open", 60),
                ("Договор", "open", 85),
            ),
            "Авто с пробегом": (("Осмотр", "open", 25), ("Цена согласована", "open", 70)),
            "Сервис": (("Диагностика", "open", 40), ("Ремонт", "open", 80)),
        },
        topics=("автопарк", "новая модель", "трейд-ин", "сервисный договор", "запчасти"),
        loss_reasons=("Дорого", "Выбрал конкурента", "Нет бюджета", "Не дозвонились"),
        campaigns=("Контекстная реклама", "Радио", "Форма на сайте", "Автосалон"),
        notes=("Спрашивал о сроках поставки", "Хочет скидку на три машины", "Отправить прайс"),
        pool_release_reasons=("Не наш клиент", "Переехал в другой город", "Не отвечает месяцами"),
    ),
    "zh-CN": DemoWords(
        pipelines={
            "新车": (("试驾", "open", 30), ("报价", "open", 60), ("签约", "open", 85)),
            "二手车": (("车况检测", "open", 25), ("价格谈妥", "open", 70)),
            "售后服务": (("故障诊断", "open", 40), ("维修", "open", 80)),
        },
        topics=("车队采购", "新车型", "以旧换新", "保养合同", "配件"),
        loss_reasons=("价格太高", "选择了竞争对手", "没有预算", "联系不上"),
        campaigns=("搜索广告", "电台广告", "官网表单", "车展"),
        notes=("询问交货时间", "三辆车想要折扣", "发送价目表"),
        pool_release_reasons=("不是目标客户", "搬到其他城市", "几个月没有回应"),
    ),
    "fa": DemoWords(
        pipelines={
            "خودروی نو": (
                ("تست رانندگی", "open", 30),
                ("پیشنهاد", "open", 60),
                ("قرارداد", "open", 85),
            ),
            "خودروی کارکرده": (("کارشناسی", "open", 25), ("توافق قیمت", "open", 70)),
            "خدمات": (("عیب‌یابی", "open", 40), ("تعمیر", "open", 80)),
        },
        topics=("خرید ناوگان", "مدل جدید", "معاوضه", "قرارداد خدمات", "قطعات یدکی"),
        loss_reasons=("قیمت بالا", "رقیب را انتخاب کرد", "بودجه ندارد", "در دسترس نبود"),
        campaigns=("تبلیغات جستجو", "رادیو", "فرم وب‌سایت", "نمایشگاه خودرو"),
        notes=("درباره زمان تحویل پرسید", "برای سه خودرو تخفیف می‌خواهد", "لیست قیمت ارسال شود"),
        pool_release_reasons=("مشتری ما نیست", "به شهر دیگری رفت", "ماه‌ها پاسخ نداد"),
    ),
}


def demo_words(locale: str) -> DemoWords:
    """The demo's words in ``locale`` (English for one it does not have)."""
    return WORDS.get(locale, WORDS["en"])
