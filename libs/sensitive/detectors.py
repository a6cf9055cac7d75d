"""The builtin detectors: a pattern that finds candidates, and a check that keeps only
real ones (a checksum, a library's validation), so that order numbers, dates and
version strings are not taken for card numbers, phone numbers or addresses.

Patterns are RE2 syntax (veil.sensitive.scanner compiles them with RE2, which matches
in linear time whatever the text). Validation uses maintained libraries where a format
has rules beyond a pattern: `phonenumbers` (Google's libphonenumber) for phone numbers,
`python-stdnum` for IBAN and Luhn checksums, the standard `ipaddress` for addresses.
"""

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn


@dataclass(frozen=True)
class Detector:
    slug: str  # as guardrails name it (OpenRouter's builtin slugs, and veil's)
    label: str  # placeholder label: [EMAIL_1]
    pattern: str  # RE2
    valid: Callable[[str], bool] | None = None  # None: every match counts


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _phone(candidate: str) -> bool:
    """A number libphonenumber accepts as valid: international (+ or 00 prefix) for any
    country, or a national number in the North American plan."""
    text = candidate.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = _digits(text)
    if not 7 <= len(digits) <= 15:
        return False
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def _card(candidate: str) -> bool:
    digits = _digits(candidate)
    # Card numbers are 13 to 19 digits, of the major networks' leading digits (2: new
    # Mastercard ranges, 3: Amex, Diners, JCB, 4: Visa, 5: Mastercard, 6: Discover,
    # UnionPay), with a valid Luhn check digit.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits)


def _iban(candidate: str) -> bool:
    return stdnum_iban.is_valid(candidate)


def _ssn(candidate: str) -> bool:
    area, group, serial = _digits(candidate)[:3], _digits(candidate)[3:5], _digits(candidate)[5:]
    # Never issued: area 000, 666 or 900-999, group 00, serial 0000.
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ip(candidate: str) -> bool:
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    # 0.0.0.0 and the like are placeholders in docs and configs, not someone's address.
    return not address.is_unspecified


EMAIL = Detector(
    "email",
    "EMAIL",
    r"(?i)[a-z0-9](?:[a-z0-9._%+\-]{0,63})@(?:[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?\.)+[a-z]{2,24}",
)
PHONE = Detector(
    "phone",
    "PHONE",
    # international (+ or 00 and a country code), or North American with separators
    r"(?:\+|\b00)[1-9]\d{0,2}(?:[ .\-]?\(?\d{1,4}\)?){2,5}"
    r"|\(?\b[2-9]\d{2}\)?[ .\-]?[2-9]\d{2}[ .\-]\d{4}\b",
    _phone,
)
CREDIT_CARD = Detector(
    "credit-card",
    "CREDIT_CARD",
    # groups of four (Visa, Mastercard, Discover...), Amex's 4-6-5, or one run of digits
    r"\b(?:[2-6]\d{3}(?:[ \-]?\d{4}){2}[ \-]?\d{1,7}|3[47]\d{2}[ \-]?\d{6}[ \-]?\d{5}"
    r"|[2-6]\d{12,18})\b",
    _card,
)
IBAN = Detector(
    "iban", "IBAN", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", _iban
)
SSN = Detector("us-ssn", "SSN", r"\b\d{3}[- ]\d{2}[- ]\d{4}\b", _ssn)
IP_ADDRESS = Detector(
    "ip-address",
    "IP_ADDRESS",
    r"\b(?:\d{1,3}\.){3}\d{1,3}\b|(?i:\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}(?::[0-9a-f]{1,4}){0,5}\b)",
    _ip,
)
# Well-known secret formats: provider and cloud keys, tokens, private key blocks, JWTs.
SECRET_FORMATS = [
    r"sk-(?:ant-|or-v1-|proj-|veil-)?[A-Za-z0-9_\-]{20,}",  # OpenAI, Anthropic, OpenRouter, veil
    r"sk_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key ids
    r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{40,}",
    r"xox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"glpat-[A-Za-z0-9_\-]{20,}",  # GitLab
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )?PRIVATE KEY-----",
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
]
API_KEY = Detector("api-key", "API_KEY", "|".join(f"(?:{p})" for p in SECRET_FORMATS))
# Phrases that try to override a model's instructions; matched case-insensitively.
INJECTION_PHRASES = [
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier|preceding) "
    r"(?:instructions|prompts?|rules|directions)",
    r"disregard (?:all |any )?(?:the )?(?:previous|prior|above|earlier|your) "
    r"(?:instructions|prompts?|rules|guidelines)",
    r"forget (?:all |everything )?(?:you were told|your (?:instructions|rules|guidelines))",
    r"you are now (?:in )?(?:DAN|developer mode|jailbroken|unrestricted)",
    r"(?:reveal|print|show|repeat) (?:me )?(?:your|the) (?:system prompt|hidden instructions|initial instructions)",
    r"act as (?:an? )?(?:unfiltered|unrestricted|jailbroken) (?:ai|assistant|model)",
    r"(?:new|updated) instructions?: (?:ignore|disregard|you must)",
    r"do anything now",
]
PROMPT_INJECTION = Detector(
    "regex-prompt-injection",
    "PROMPT_INJECTION",
    "(?i)" + "|".join(f"(?:{p})" for p in INJECTION_PHRASES),
)

BUILTINS: dict[str, Detector] = {
    d.slug: d for d in (EMAIL, PHONE, CREDIT_CARD, IBAN, SSN, IP_ADDRESS, API_KEY, PROMPT_INJECTION)
}
# OpenRouter's names for the same detectors.
ALIASES = {"ssn": "us-ssn", "secrets": "api-key"}
# OpenRouter builtins veil cannot detect without a model (names, postal addresses): a
# guardrail naming them is refused, never accepted and silently not enforced.
UNSUPPORTED = frozenset({"person-name", "address"})


def builtin(slug: str) -> Detector:
    return BUILTINS[ALIASES.get(slug, slug)]
