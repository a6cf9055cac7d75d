"""The builtin detectors: a pattern that finds candidates, and a check that keeps only
real ones (a checksum, a library's validation), so that order numbers, dates and
version strings are not taken for card numbers, phone numbers or addresses.

Patterns are RE2 syntax (veil.sensitive.scanner compiles them with RE2, which matches
in linear time whatever the text). Validation uses maintained libraries where a format
has rules beyond a pattern: `phonenumbers` (Google's libphonenumber) for phone numbers,
`python-stdnum` for IBAN and Luhn checksums, the standard `ipaddress` for addresses.

RE2 has no lookaround, so where the text next to a candidate decides (a version number
is "v1.2.3.4", a float's digits follow "0."), the pattern takes that context into the
match as an optional part, and the check refuses a match that holds it: the scanner
then goes on after it, so the bare number inside is not found either.
`python -m veil.sensitive.evaluate` measures every detector on a labelled corpus
(corpus.jsonl, near-misses included).
"""

import base64
import binascii
import functools
import ipaddress
import json
import re
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


# Email: the top-level domain is letters, which keeps versions (pkg@1.2.3) out; file
# extensions are letters too, and "icon@2x.png" is an image, not an address. (Not the
# extensions that are also top-level domains: .md, .py, .rs, .sh, .zip, .mov.)
_FILE_EXTENSIONS = frozenset(
    {
        *("png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff", "pdf"),
        *("js", "mjs", "ts", "css", "html", "htm", "json", "yaml", "yml", "txt", "csv"),
        *("xml", "gz", "tar", "mp3", "mp4", "wav", "rb", "java", "php", "doc", "docx"),
        *("xls", "xlsx", "ppt", "pptx", "odt"),
    }
)


def _email(candidate: str) -> bool:
    if candidate.rsplit(".", 1)[-1].lower() in _FILE_EXTENSIONS:
        return False
    # https://ghp_...@github.com/: a token in a URL, found whole as a key instead
    return _secret_format().fullmatch(candidate.split("@", 1)[0]) is None


@functools.cache
def _secret_format() -> re.Pattern[str]:
    return re.compile(API_KEY.pattern)


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


def _card_network(digits: str) -> bool:
    """Whether the number's length is one its network issues: an IMEI (15 digits, Luhn
    too) or a 16-digit id that happens to pass Luhn with an Amex length is not a card."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return n == 16
    if two in (34, 37):  # American Express
        return n == 15
    if 300 <= four // 10 <= 305 or two in (36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if 3528 <= four <= 3589:  # JCB
        return 16 <= n <= 19
    if digits[0] == "6" or two in (50, 56, 57, 58):  # Discover, UnionPay, Maestro
        return 16 <= n <= 19
    return False


def _card(candidate: str) -> bool:
    # A candidate that starts with "0." or "5," is the fraction of a number (a float's
    # digits: 0.30000000000000004), not a card.
    if not candidate[0].isdigit() or not candidate[1].isdigit():
        return False
    digits = _digits(candidate)
    # Card numbers are 13 to 19 digits with a valid Luhn check digit.
    return 13 <= len(digits) <= 19 and _card_network(digits) and luhn.is_valid(digits)


def _iban(candidate: str) -> bool:
    # The mod-97 check digits and the registry's structure for the country; not the
    # national account checks stdnum adds (SWIFT's own Belgian example fails them): a
    # missed IBAN is a leak, one redacted too many is not.
    return stdnum_iban.is_valid(candidate, check_country=False)


def _ssn(candidate: str) -> bool:
    # "12-345-67-8901": the SSN shape inside a longer dashed number (a part number).
    if candidate.count("-") + candidate.count(" ") != 2:
        return False
    if candidate[3] != candidate[6]:  # 123-45 6789: mixed separators, a coincidence
        return False
    digits = _digits(candidate)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    # Never issued: area 000, 666 or 900-999, group 00, serial 0000.
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# IPv4: what is not someone's address. 0.0.0.0/8 ("any"), loopback (every machine's own)
# and 255.x (netmasks, broadcast) fill configs and docs and say nothing of anyone.
_IPV4_NOT_ADDRESSES = (
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("255.0.0.0/8"),
)
# IPv6: the blocks addresses are assigned from (global unicast, the documentation range
# 2001:db8::/32 within it, unique local, link local, multicast). Outside them, a string
# of hex and colons is a time, a MAC address, a C++ name or a Python slice ("[1::2]").
_IPV6_ADDRESSES = tuple(
    ipaddress.ip_network(n) for n in ("2000::/3", "fc00::/7", "fe80::/10", "ff00::/8")
)


def _ipv4(address: ipaddress.IPv4Address) -> bool:
    return not any(address in network for network in _IPV4_NOT_ADDRESSES)


def _ip(candidate: str) -> bool:
    text, slash, _ = candidate.partition("/")
    try:
        address = ipaddress.ip_address(text)
        network = ipaddress.ip_network(candidate, strict=False) if slash else None
    except ValueError:
        # 300.1.2.3, an OID's five parts and more, 12:30:45, and a version or a section
        # ("v1.2.0.4", "section 4.2.1.3": the word taken in by the pattern)
        return False
    # 203.0.113.0/24 is a range (its host bits zero), 192.0.2.7/24 a host's address
    if network is not None and network.num_addresses > 1 and address == network[0]:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return _ipv4(address)
    if address.ipv4_mapped is not None:
        return _ipv4(address.ipv4_mapped)
    return any(address in block for block in _IPV6_ADDRESSES)


_SECRET_SEPARATORS = re.compile(r"[-_]")
_WORD = re.compile(r"[a-z0-9]{0,10}")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/=]{16,}")


def _secret(candidate: str) -> bool:
    """Keys are random: a placeholder of the right prefix ("sk-your-key-here",
    "ghp_XXXX...") has no digit, too few distinct characters, or is made of words. A PEM
    block must hold a key (not "..."), a JWT a header naming its algorithm."""
    if candidate.startswith("-----"):
        return sum(len(line) for line in _BASE64_LINE.findall(candidate)) >= 64
    if candidate.startswith("eyJ"):
        return _jwt_header(candidate.split(".", 1)[0])
    if not any(c.isdigit() for c in candidate) or len(set(candidate)) < 10:
        return False
    # "sk-my-key-for-staging-v2": short lower-case words, not random characters
    segments = _SECRET_SEPARATORS.split(candidate)
    return len(segments) < 3 or not all(_WORD.fullmatch(s) for s in segments)


def _jwt_header(segment: str) -> bool:
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and "alg" in header


_NEGATED = re.compile(
    r"(?i)(?:don.t|do not|never|didn.t|did not|doesn.t|not) (?:ignore|disregard|forget"
    r"|override|bypass)"
)


def _injection(candidate: str) -> bool:
    # "Please don't ignore the previous instructions" asks the opposite of an override
    # (don.t: a straight or a typographic apostrophe).
    return _NEGATED.match(candidate) is None


EMAIL = Detector(
    "email",
    "EMAIL",
    r"(?i)[a-z0-9](?:[a-z0-9._%+\-]{0,63})@(?:[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?\.)+[a-z]{2,24}",
    _email,
)
PHONE = Detector(
    "phone",
    "PHONE",
    # international (+ or 00 and a country code, and the "(0)" of a trunk prefix written
    # in: +44 (0)20 7946 0958), or North American with separators (and its optional
    # leading 1: 1-800-555-0199)
    r"(?:\+|\b00)[1-9]\d{0,2}(?: ?\(0\))?(?:[ .\-]?(?:\(\d{1,4}\)|\d{1,4})){2,5}"
    r"|(?:\b1[ .\-]?)?(?:\(\b[2-9]\d{2}\)|\b[2-9]\d{2})[ .\-]?[2-9]\d{2}[ .\-]\d{4}\b",
    _phone,
)
CREDIT_CARD = Detector(
    "credit-card",
    "CREDIT_CARD",
    # groups of four (Visa, Mastercard, Discover...), Amex's 4-6-5 and Diners' 4-6-4, or
    # one run of digits; an optional "0." before it marks a fraction (refused)
    r"(?:\d[.,])?\b(?:[2-6]\d{3}(?:[ \-]?\d{4}){2}[ \-]?\d{1,7}|3\d{3}[ \-]?\d{6}[ \-]?\d{4,5}"
    r"|[2-6]\d{12,18})\b",
    _card,
)
# IBAN lengths by country, from SWIFT's IBAN registry (as python-stdnum ships it): the
# pattern takes exactly as many characters as the country's IBAN has, so an IBAN
# followed by a word in capitals ("BE68 5390 0754 7034 BANK") is still found.
_IBAN_LENGTHS = {
    15: "NO",
    16: "BE",
    18: "DK FI FK FO GL NL SD",
    19: "MK SI",
    20: "AT BA EE KZ LT LU MN XK",
    21: "CH HR LI LV",
    22: "BG BH CR DE GB GE IE ME RS VA",
    23: "AE GI IL IQ OM SO TL",
    24: "AD CZ ES MD PK RO SA SE SK TN VG",
    25: "LY PT ST",
    26: "IS TR",
    27: "BI DJ FR GR IT MC MR SM",
    28: "AL AZ BY CY DO GT HN HU LB NI PL SV",
    29: "BR EG PS QA UA",
    30: "JO KW MU YE",
    31: "MT SC",
    32: "LC",
    33: "RU",
}
IBAN = Detector(
    "iban",
    "IBAN",
    # the country's characters in groups of four or one run (any single spaces allowed),
    # in capitals as printed, or typed in lower case
    r"(?i)\b(?:"
    + "|".join(
        f"(?:{'|'.join(countries.split())})\\d\\d(?: ?[0-9A-Z]){{{length - 4}}}"
        for length, countries in _IBAN_LENGTHS.items()
    )
    + r")\b",
    _iban,
)
SSN = Detector(
    "us-ssn",
    "SSN",
    # a longer dashed number around it is taken in, and refused
    r"\b(?:\d+-)?\d{3}[- ]\d{2}[- ]\d{4}(?:-\d+)?\b",
    _ssn,
)
_IP_CONTEXT = (
    # words after which dotted numbers are versions or sections, not addresses
    r"\b(?i:v|ver|version|build|release|rev|revision|firmware|section|sec|chapter|clause"
    r"|figure|fig|oid|assemblyversion|fileversion)[ .:=(\"']{0,3}"
)
IP_ADDRESS = Detector(
    "ip-address",
    "IP_ADDRESS",
    # IPv4: any dotted run of four numbers or more (five is an OID, checked away)
    # and a prefix length (192.0.2.7/24: a host; 192.0.2.0/24: a range, refused)
    r"(?:" + _IP_CONTEXT + r"|\b)\d+(?:\.\d+){3,}(?:/\d{1,3})?\b"
    # IPv6: hex groups and colons (at least two), an IPv4 tail, a zone (%eth0); word
    # characters right after are taken in (refused): "2001:db8::1g" is no address
    r"|(?i:(?:\b[0-9a-f]{1,4})?(?::[0-9a-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?:%[0-9a-z]+)?\w*"
    r"(?:/\d{1,3}\b)?)",
    _ip,
)
# Well-known secret formats: provider and cloud keys, tokens, private key blocks, JWTs.
SECRET_FORMATS = [
    r"\bsk-(?:ant-|or-v1-|proj-|veil-)?[A-Za-z0-9_\-]{20,}",  # OpenAI, Anthropic, OpenRouter
    r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe secret and restricted keys
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
    r"\bgh[pousr]_[A-Za-z0-9]{36,}",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{40,}",
    r"\bxox[abposre]-\d{6,}-[A-Za-z0-9\-]{10,}",  # Slack
    r"\bAIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"\bglpat-[A-Za-z0-9_\-]{20,}",  # GitLab
    r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"\bnpm_[A-Za-z0-9]{36}\b",  # npm
    r"\bpypi-[A-Za-z0-9_\-]{50,}",  # PyPI
    r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"-----END (?:[A-Z0-9]+ )?PRIVATE KEY(?: BLOCK)?-----",
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWT
]
API_KEY = Detector("api-key", "API_KEY", "|".join(f"(?:{p})" for p in SECRET_FORMATS), _secret)
# Phrases that try to override a model's instructions; matched case-insensitively. An
# alternation takes its first branch that matches (not the longest), so longer
# phrasings come first. A negation before the verb is taken in, and refused.
_QUALIFIER = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|system"
    r"|safety)"
)
_INSTRUCTIONS = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|commands|guardrails"
    r"|constraints|programming|system prompt)"
)
_OVERRIDE = r"(?:ignore|disregard|forget)"
INJECTION_PHRASES = [
    # ignore all previous instructions, disregard the above rules, forget your guidelines
    _OVERRIDE + r" (?:(?:all|any|every) )?(?:of )?(?:the |your |these |those )?"
    rf"(?:{_QUALIFIER} )+{_INSTRUCTIONS}",
    # (override and bypass only "your" rules: CSS overrides the previous rules)
    r"(?:ignore|disregard|forget|override|bypass) (?:(?:all|any) )?(?:of )?your "
    rf"(?:{_QUALIFIER} )*{_INSTRUCTIONS}",
    # ignore all the instructions you were given, forget everything you were told
    _OVERRIDE + r" (?:(?:all|any) )?(?:of )?(?:the )?(?:instructions|rules|guidelines|text"
    r"|everything|all) (?:above|before this|you (?:were|have been|got|received)"
    r"(?: given| told)?(?: before| so far| earlier)?)",
    _OVERRIDE + r" (?:all|any) (?:of )?(?:the )?(?:instructions|prompts|directives)",
    r"(?:ignore|disregard) (?:all of )?the above",
    # reveal your system prompt, print the hidden instructions
    r"(?:reveal|print|show|repeat|output|display|leak|dump|tell me|give me|write out) "
    r"(?:me )?(?:your (?:(?:full|entire|complete|exact|original|initial|hidden|secret) )*"
    r"(?:system prompt|system message|developer message|hidden instructions"
    r"|initial instructions|original instructions|initial prompt|original prompt)"
    r"|the (?:(?:full|entire|complete|exact) )?(?:hidden|secret|initial|original|confidential)"
    r" (?:system prompt|instructions|prompt))",
    r"what (?:is|was|are) your (?:system prompt|hidden instructions|initial instructions)",
    r"repeat (?:all )?(?:of )?the (?:words|text) above",
    # role play that drops the rules: DAN, developer mode, an unrestricted AI
    r"you are now (?:in )?(?:(?-i:DAN)\b|developer mode|jailbroken|unrestricted|unfiltered"
    r"|an? (?:unrestricted|unfiltered|uncensored|jailbroken) (?:ai|assistant|model|chatbot)"
    r"|free (?:from|of) (?:all |any |your )?(?:restrictions|rules|guidelines|filters))",
    r"(?:act as|pretend to be|you are going to pretend to be|become|known as) (?-i:DAN)\b",
    r"act as (?:an? )?(?:unfiltered|unrestricted|jailbroken|uncensored) "
    r"(?:ai|assistant|model|chatbot|version of yourself)",
    r"act as [a-z]{1,20} with developer mode enabled",
    r"you are no longer (?:bound by|restricted by|subject to|required to follow) "
    r"(?:any |your |the )?(?:rules|restrictions|guidelines|policies|instructions)",
    r"pretend (?:that )?you (?:have no|don't have any|do not have any|are not bound by"
    r"|aren't bound by) (?:restrictions|rules|guidelines|filters|limits|limitations"
    r"|content polic(?:y|ies)|ethical guidelines)",
    r"(?:override|bypass|disable) (?:your |the |all )?(?:safety|content|ethical) "
    r"(?:filters?|guidelines|polic(?:y|ies)|restrictions|protocols|rules)",
    r"(?:new|updated) instructions?: (?:ignore|disregard|you must)",
    r"stands for \"?do anything now",
    # other languages (German, French, Spanish, Italian, Portuguese, Dutch)
    r"(?:ignoriere|ignorieren sie|vergiss|vergessen sie|missachte) (?:alle )?(?:deine )?"
    r"(?:vorherigen|bisherigen|obigen|vorigen|früheren) (?:anweisungen|instruktionen|regeln)",
    r"(?:ignore|ignorez|oublie|oubliez) (?:toutes )?(?:les|tes|vos) (?:instructions|consignes"
    r"|règles) (?:précédentes|antérieures|ci-dessus)",
    r"(?:ignora|ignore|olvida|olvide) (?:todas )?(?:las|tus|sus) (?:instrucciones|indicaciones"
    r"|reglas) (?:anteriores|previas)",
    r"(?:ignora|dimentica) (?:tutte )?(?:le )?(?:istruzioni|regole) precedenti",
    r"(?:ignore|ignora|esqueça) (?:todas )?(?:as )?(?:instruções|regras) anteriores",
    r"(?:negeer|vergeet) (?:alle )?(?:de )?(?:vorige|eerdere|voorgaande) (?:instructies|regels)",
]
PROMPT_INJECTION = Detector(
    "regex-prompt-injection",
    "PROMPT_INJECTION",
    r"(?i)\b(?:(?:don.t|do not|never|didn.t|did not|doesn.t|not) )?(?:"
    + "|".join(f"(?:{p})" for p in INJECTION_PHRASES)
    + ")",
    _injection,
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
