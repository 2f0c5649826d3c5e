"""The ingestion benchmark's corpus: support documentation of a fictional product, from a fixed seed.

Manuals as PDFs (10 pages of 250-400 words each by default, a chapter heading every four pages and one
or two section headings a page, all in the PDF outline, with a running header and footer), and the same
kind of prose as Word documents, help-centre HTML pages and Markdown files. PDFs are written with the
test suite's reportlab generator (``tests.knowledge.corpus.make_pdf``). Used by bench/ingestion.py;
bench/embedder.py makes its chunks from part of the same vocabulary.
"""

from __future__ import annotations

import io
import random
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import docx
import harness  # noqa: F401 -- importing it puts the project on sys.path, for tests.knowledge.corpus

from tests.knowledge.corpus import PdfPage, make_pdf

PRODUCT = "Nimbus Desk"
MIN_WORDS, MAX_WORDS = 250, 400  # of prose on a PDF page, headings and the running header not counted
AREAS: dict[str, list[str]] = {
    "Billing and invoices": [
        "Plans and seats",
        "Payment methods",
        "Invoices and receipts",
        "Refunds and credits",
        "Taxes and VAT numbers",
        "Changing your plan",
        "Failed payments",
        "Billing contacts",
    ],
    "Security and sign-in": [
        "Two-factor authentication",
        "Single sign-on with SAML",
        "Password policies",
        "Session timeouts",
        "IP allowlists",
        "Recovery codes",
        "Security notifications",
    ],
    "Team management": [
        "Inviting members",
        "Roles and permissions",
        "Removing a member",
        "Transferring ownership",
        "Groups and departments",
        "Guest access",
    ],
    "Integrations and the API": [
        "API keys",
        "Webhooks",
        "Rate limits",
        "Connecting Slack",
        "Connecting Salesforce",
        "Retries and idempotency",
        "Pagination",
    ],
    "Importing and exporting data": [
        "Importing contacts from CSV",
        "Field mapping",
        "Scheduled exports",
        "Data retention",
        "Deleting personal data",
        "Backups",
    ],
    "Notifications and alerts": [
        "Email notifications",
        "Usage alerts",
        "Quiet hours",
        "Digest emails",
        "Mobile push notifications",
        "Escalation rules",
    ],
    "The mobile app": [
        "Installing the app",
        "Offline mode",
        "Signing in on a new phone",
        "Attachments and photos",
        "Battery and data usage",
    ],
    "Troubleshooting": [
        "Error messages",
        "Slow pages",
        "Emails that do not arrive",
        "Browser support",
        "Clearing the cache",
        "Contacting support",
    ],
}
FEATURES = [
    "two-factor authentication",
    "single sign-on",
    "invoice exports",
    "team roles",
    "webhook retries",
    "data retention",
    "password resets",
    "usage alerts",
    "custom domains",
    "audit logs",
    "scheduled exports",
    "guest access",
    "the IP allowlist",
    "recovery codes",
    "escalation rules",
    "field mapping",
]
PLACES = [
    "Settings",
    "Account",
    "Billing",
    "Security",
    "Integrations",
    "Notifications",
    "Team",
    "Profile",
    "Data",
    "Developer tools",
]
SURFACES = [
    "the dashboard",
    "the mobile app",
    "the admin console",
    "the API",
    "the web app",
    "the help widget",
]
ROLES = ["owners", "administrators", "billing managers", "agents", "team leads", "guests"]
ACTIONS = ["open", "select", "click", "choose", "go to", "find"]
PLANS = ["Starter", "Team", "Business", "Enterprise"]
OUTCOMES = [
    "the change takes effect within a few minutes",
    "you receive a confirmation email at the address on your profile",
    "the previous configuration is kept for thirty days in case you need to restore it",
    "members of your workspace are notified automatically",
    "the page reloads and shows the new status next to the setting",
    "an administrator has to approve the request before it applies",
    "the audit log records who made the change and when",
    "open sessions on other devices are signed out",
]
PROBLEMS = [
    "the verification code has expired",
    "your browser blocks third-party cookies",
    "the card issuer declined the payment",
    "the file is larger than the upload limit of 25 MB",
    "your session timed out",
    "the workspace has reached its seat limit",
    "the webhook endpoint answered with an error",
    "the CSV file uses a different delimiter",
    "the identity provider's certificate has expired",
]
TEMPLATES = [
    "To manage {feature}, {action} {place} in {surface} and follow the steps on screen.",
    "If {problem}, sign out, sign in again and repeat the last step.",
    "After you save, {outcome}.",
    "Only {role} can change {feature}; other members see the setting as read-only.",
    "When {problem}, {surface} shows error {code} with a reference number for our support team.",
    "You can turn off {feature} at any time from {place}, and {outcome}.",
    "Note: {feature} is available on the {plan} and {plan2} plans.",
    "We recommend setting up {feature} before you invite the rest of your team.",
    "Contact support with the reference number if {problem} and the steps above do not help.",
    "In {surface}, {action} {place}, then {action2} the option for {feature}.",
    "Changes to {feature} are recorded in the audit log together with the time and the member.",
    "Most customers set up {feature} in under {minutes} minutes; larger teams may need an afternoon.",
    "Each workspace can have up to {count} {things}; contact sales if you need more.",
    "The {plan} plan includes {feature} for up to {count} members at no extra cost.",
    "Error {code} means that {problem}; the message in {surface} tells you what to do next.",
    "{role_title} receive a weekly summary of {feature} by email, which they can turn off in {place}.",
    "Requests to the API are limited to {count} per minute per key, and {outcome}.",
    "For security reasons, {feature} cannot be changed from {surface} while {problem}.",
    "Keep a copy of your recovery codes somewhere safe: support cannot read them back to you.",
    "Tip: press the question mark key anywhere in {surface} to see the keyboard shortcuts.",
]
THINGS = ["API keys", "webhooks", "custom domains", "guest accounts", "scheduled exports", "alert rules"]


def sentence(rng: random.Random) -> str:
    role = rng.choice(ROLES)
    plan, plan2 = rng.sample(PLANS, 2)
    return rng.choice(TEMPLATES).format(
        feature=rng.choice(FEATURES),
        place=rng.choice(PLACES),
        surface=rng.choice(SURFACES),
        role=role,
        role_title=role.capitalize(),
        action=rng.choice(ACTIONS),
        action2=rng.choice(ACTIONS),
        plan=plan,
        plan2=plan2,
        outcome=rng.choice(OUTCOMES),
        problem=rng.choice(PROBLEMS),
        code=f"E-{rng.randint(1000, 9999)}",
        minutes=rng.choice([5, 10, 15, 20, 30]),
        count=rng.choice([5, 10, 25, 50, 100, 500]),
        things=rng.choice(THINGS),
    )


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))


def steps(rng: random.Random) -> list[str]:
    feature, place = rng.choice(FEATURES), rng.choice(PLACES)
    lines = [
        f"1. Open {place} in {rng.choice(SURFACES)}.",
        f"2. Choose {feature.capitalize() if feature[0].islower() else feature}.",
        f"3. {rng.choice(['Turn the switch on', 'Fill in the form', 'Upload the file', 'Paste the key'])}"
        " and select Save.",
    ]
    if rng.random() < 0.5:
        lines.append(f"4. Check that {rng.choice(OUTCOMES)}.")
    return lines


def words(lines: Sequence[str]) -> int:
    return sum(len(line.split()) for line in lines)


@dataclass
class Block:
    """A heading (level 0 chapter, level 1 section) or a paragraph or a numbered list."""

    kind: str  # "heading", "paragraph", "steps"
    text: str = ""
    level: int = 0
    items: list[str] = field(default_factory=list)


def manual_pages(rng: random.Random, area: str, pages: int) -> list[list[Block]]:
    """``pages`` pages of 250-400 words; a chapter heading every few pages, one or two sections a page."""
    sections = list(AREAS[area])
    rng.shuffle(sections)
    result: list[list[Block]] = []
    for number in range(pages):
        target = rng.randint(MIN_WORDS, MAX_WORDS)
        blocks: list[Block] = []
        count = 0
        if number % 4 == 0:
            chapter = "Overview" if number == 0 else rng.choice(["Setting up", "Everyday use", "Reference"])
            blocks.append(Block("heading", f"{chapter}: {area.lower()}", level=0))
            introduction = " ".join(sentence(rng) for _ in range(2))
            blocks.append(Block("paragraph", f"This chapter covers {area.lower()}. {introduction}"))
            count += len(blocks[-1].text.split())
        title = sections[number % len(sections)]
        blocks.append(Block("heading", title if number < len(sections) else f"{title} (continued)", level=1))
        second_at = rng.randint(target // 3, 2 * target // 3) if rng.random() < 0.5 else None
        while count < target:
            if second_at is not None and count >= second_at:
                extra = sections[(number + 3) % len(sections)]
                blocks.append(
                    Block("heading", f"{extra}: {rng.choice(['details', 'limits', 'examples'])}", 1)
                )
                second_at = None
            if rng.random() < 0.15:
                block = Block("steps", items=steps(rng))
                size = words(block.items)
            else:
                block = Block("paragraph", paragraph(rng))
                size = len(block.text.split())
            if count >= MIN_WORDS and count + size > MAX_WORDS:
                break  # the page is full
            blocks.append(block)
            count += size
        result.append(blocks)
    return result


def pdf_document(rng: random.Random, area: str, pages: int, edition: int) -> bytes:
    title = f"{PRODUCT}: {area} (administrator guide, edition {edition})"
    pdf_pages: list[PdfPage] = []
    for blocks in manual_pages(rng, area, pages):
        lines: list[str] = []
        outline: list[tuple[int, str]] = []
        for block in blocks:
            if block.kind == "heading":
                if lines:
                    lines.append("")
                lines.append(block.text)
                outline.append((block.level, block.text))
            elif block.kind == "steps":
                lines.extend(block.items)
                lines.append("")
            else:
                lines.extend(textwrap.wrap(block.text, width=95))
                lines.append("")
        pdf_pages.append(PdfPage(lines=lines, outline=outline))
    return make_pdf(
        pdf_pages, title=title, header=f"{PRODUCT} help centre - {area}", footer="Page {page} of {pages}"
    )


def docx_document(rng: random.Random, area: str, pages: int) -> bytes:
    document = docx.Document()
    document.core_properties.title = f"{PRODUCT}: {area} handbook"
    for blocks in manual_pages(rng, area, pages):
        for block in blocks:
            if block.kind == "heading":
                document.add_heading(block.text, level=block.level + 1)
            elif block.kind == "steps":
                for item in block.items:
                    document.add_paragraph(item.split(". ", 1)[1], style="List Number")
            else:
                document.add_paragraph(block.text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def html_document(rng: random.Random, area: str, pages: int) -> bytes:
    body: list[str] = []
    for blocks in manual_pages(rng, area, pages):
        for block in blocks:
            if block.kind == "heading":
                anchor = re.sub(r"[^a-z0-9]+", "-", block.text.lower()).strip("-")
                body.append(f'<h{block.level + 1} id="{anchor}">{block.text}</h{block.level + 1}>')
            elif block.kind == "steps":
                items = "".join(f"<li>{item.split('. ', 1)[1]}</li>" for item in block.items)
                body.append(f"<ol>{items}</ol>")
            else:
                body.append(f"<p>{block.text}</p>")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{area} | {PRODUCT} help</title>
<script>window.analytics = {{}};</script></head>
<body><header><nav><a href="/">{PRODUCT}</a> <a href="/help">Help centre</a>
<a href="/status">Status</a></nav></header>
<main><nav class="breadcrumbs"><a href="/help">Help</a> / {area}</nav>
{chr(10).join(body)}
</main><footer>Copyright {PRODUCT}. Was this article helpful?</footer></body></html>"""
    return page.encode()


def markdown_document(rng: random.Random, area: str, pages: int) -> bytes:
    lines = ["---", f'title: "{area}"', "---", ""]
    for blocks in manual_pages(rng, area, pages):
        for block in blocks:
            if block.kind == "heading":
                lines += ["#" * (block.level + 1) + " " + block.text, ""]
            elif block.kind == "steps":
                lines += [*block.items, ""]
            else:
                lines += [block.text, ""]
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class CorpusFile:
    filename: str
    data: bytes


def make_corpus(*, pdfs: int, pages: int, others: int, other_pages: int, seed: int) -> list[CorpusFile]:
    """``pdfs`` PDFs of ``pages`` pages, then ``others`` each of DOCX, HTML and Markdown documents of
    ``other_pages`` pages' worth of the same prose."""
    rng = random.Random(seed)  # noqa: S311 -- a fixed seed for repeatable documents, not security
    areas = list(AREAS)
    files = [
        CorpusFile(
            f"{areas[index % len(areas)].lower().replace(' ', '-')}-{index + 1}.pdf",
            pdf_document(rng, areas[index % len(areas)], pages, index + 1),
        )
        for index in range(pdfs)
    ]
    makers: list[tuple[str, Callable[[random.Random, str, int], bytes]]] = [
        ("docx", docx_document),
        ("html", html_document),
        ("md", markdown_document),
    ]
    for extension, maker in makers:
        for index in range(others):
            area = areas[(index * 3 + len(extension)) % len(areas)]
            name = f"{area.lower().replace(' ', '-')}-{index + 1}.{extension}"
            files.append(CorpusFile(name, maker(rng, area, other_pages)))
    return files
