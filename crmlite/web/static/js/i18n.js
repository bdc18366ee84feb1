// Languages and local formats: message catalogs in /static/i18n/<code>.json, Intl for the rest.

export const LOCALES = [
  { code: "en", label: "English", dir: "ltr" },
  { code: "zh-CN", label: "简体中文", dir: "ltr" },
  { code: "ru", label: "Русский", dir: "ltr" },
  { code: "fa", label: "فارسی", dir: "rtl" },
];

let locale = "en";
let messages = {};
let fallback = {};
const catalogs = new Map();
let region = "RU";

async function catalog(code) {
  if (!catalogs.has(code)) {
    const response = await fetch(`/static/i18n/${code}.json`, { credentials: "same-origin" });
    catalogs.set(code, response.ok ? await response.json() : {});
  }
  return catalogs.get(code);
}

/** The best supported locale for a wish such as "zh", "zh-Hans-CN" or "fa-IR". */
export function pickLocale(wish) {
  if (!wish) return null;
  const lower = wish.toLowerCase();
  const exact = LOCALES.find((l) => l.code.toLowerCase() === lower);
  if (exact) return exact.code;
  const base = lower.split("-")[0];
  return LOCALES.find((l) => l.code.toLowerCase().split("-")[0] === base)?.code ?? null;
}

export function initialLocale() {
  return pickLocale(localStorage.getItem("locale"))
    || navigator.languages.map(pickLocale).find(Boolean)
    || "en";
}

export async function setLocale(code) {
  const chosen = pickLocale(code) || "en";
  [fallback, messages] = await Promise.all([catalog("en"), catalog(chosen)]);
  locale = chosen;
  localStorage.setItem("locale", chosen);
  const info = LOCALES.find((l) => l.code === chosen);
  document.documentElement.lang = chosen;
  document.documentElement.dir = info?.dir || "ltr";
  window.dispatchEvent(new CustomEvent("locale-changed", { detail: chosen }));
}

export function currentLocale() {
  return locale;
}

export function setRegion(code) {
  if (code) region = code.toUpperCase();
}

/** Translate key, filling {name} placeholders from vars; {count} picks a plural form. */
export function t(key, vars = {}) {
  let text = messages[key] ?? fallback[key];
  if (text && typeof text === "object") {
    const form = new Intl.PluralRules(locale).select(vars.count ?? 0);
    text = text[form] ?? text.other;
  }
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (match, name) => {
    if (!(name in vars)) return match;
    const value = vars[name];
    return typeof value === "number" ? formatNumber(value) : String(value);
  });
}

/** Translate a key if the catalog knows it, else return the given text (names from the server). */
export function tOr(key, text) {
  return (messages[key] ?? fallback[key]) !== undefined ? t(key) : text;
}

export function formatNumber(value, opts) {
  if (value === null || value === undefined || value === "") return "—";
  return new Intl.NumberFormat(locale, opts).format(Number(value));
}

export function formatMoney(amount, currency = "RUB", opts = {}) {
  if (amount === null || amount === undefined || amount === "") return "—";
  try {
    return new Intl.NumberFormat(locale, {
      style: "currency", currency, currencyDisplay: "narrowSymbol", maximumFractionDigits: 0, ...opts,
    }).format(Number(amount));
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return `${formatNumber(amount)} ${currency}`;
  }
}

export function formatPercent(ratio, digits = 0) {
  if (ratio === null || ratio === undefined) return "—";
  return new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: digits })
    .format(Number(ratio));
}

function asDate(value) {
  return value instanceof Date ? value : new Date(value);
}

export function formatDate(value) {
  if (!value) return "—";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(asDate(value));
}

export function formatDateTime(value) {
  if (!value) return "—";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" })
    .format(asDate(value));
}

export function formatTime(value) {
  if (!value) return "—";
  return new Intl.DateTimeFormat(locale, { timeStyle: "short" }).format(asDate(value));
}

/** "3 days ago", "in 2 hours": the closest whole unit. */
export function formatRelative(value, now = Date.now()) {
  if (!value) return "—";
  const seconds = (asDate(value).getTime() - now) / 1000;
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return rtf.format(Math.round(seconds / size), unit);
    }
  }
  return "";
}

/** A length of time in the largest sensible units: "2 d 3 h", "4 min 05 s". */
export function formatDuration(totalSeconds) {
  if (totalSeconds === null || totalSeconds === undefined) return "—";
  const s = Math.max(0, Math.round(Number(totalSeconds)));
  const parts = [
    ["day", Math.floor(s / 86400)],
    ["hour", Math.floor((s % 86400) / 3600)],
    ["minute", Math.floor((s % 3600) / 60)],
    ["second", s % 60],
  ];
  const first = parts.findIndex(([, n]) => n > 0);
  const shown = first < 0 ? [["second", 0]] : parts.slice(first, first + 2).filter(([, n]) => n > 0);
  return shown
    .map(([unit, n]) => new Intl.NumberFormat(locale, { style: "unit", unit, unitDisplay: "short" }).format(n))
    .join(" ");
}

/** Days as a short unit ("5 days"), for "days in stage". */
export function formatDays(days) {
  return new Intl.NumberFormat(locale, { style: "unit", unit: "day", unitDisplay: "short" })
    .format(Math.max(0, Math.floor(days)));
}

/**
 * A phone number the local way: national format for numbers of the configured region,
 * international for others, extensions as they are.
 */
export function formatPhone(number) {
  if (!number) return "";
  const text = String(number);
  if (/^\d{2,5}$/.test(text)) return text;
  const lib = globalThis.libphonenumber;
  if (!lib) return text;
  const parsed = lib.parsePhoneNumberFromString(text, region);
  if (!parsed) return text;
  return parsed.country === region ? parsed.formatNational() : parsed.formatInternational();
}

/** The tel: URI of a number (for links and click-to-call). */
export function phoneUri(number) {
  return `tel:${String(number).replace(/[^\d+]/g, "")}`;
}
