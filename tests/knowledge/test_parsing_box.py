"""The parse box (knowledge.ingestion.box) from this process: the same documents and reasons as parsing
in process, readable reasons for what kills a parser, and nothing left running.

The same paths through a real worker, with the worker's memory sampled, are in test_hostile_corpus.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
import pytest
from pytest_django.fixtures import Settings

from knowledge.ingestion import IngestionError, box
from knowledge.ingestion.parse import parse
from tests.knowledge import corpus, hostile_corpus

GOOD: dict[str, tuple[str, Callable[[], bytes]]] = {
    "pdf": ("pdf", corpus.handbook_pdf),
    "docx": ("docx", corpus.handbook_docx),
    "html": ("html", lambda: corpus.HELP_PAGE.encode()),
    "markdown": ("markdown", lambda: corpus.GUIDE_MARKDOWN.encode()),
    "csv": ("csv", lambda: corpus.PRODUCTS_CSV.encode()),
    "text": ("text", lambda: corpus.PLAIN_TEXT.encode("latin-1")),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_the_box_gives_the_document_parsing_in_process_gives(name: str) -> None:
    kind, make = GOOD[name]
    data = make()
    boxed = box.parse_in_box(data, kind=kind, source_url="https://example.com/help")
    assert boxed == parse(data, kind=kind, source_url="https://example.com/help")
    assert boxed.sections


def test_a_parsers_own_reason_comes_back_unchanged() -> None:
    with pytest.raises(IngestionError) as in_process:
        parse(corpus.empty_docx(), kind="docx")
    with pytest.raises(IngestionError) as boxed:
        box.parse_in_box(corpus.empty_docx(), kind="docx")
    assert boxed.value.message == in_process.value.message


def test_a_document_that_exhausts_the_address_space_fails_with_the_limit_in_its_reason(
    settings: Settings,
) -> None:
    settings.INGESTION_BOX_MEMORY_BYTES = 256 * 1024**2
    with pytest.raises(IngestionError, match="needs more memory to read than the 256 MB a document may use"):
        box.parse_in_box(hostile_corpus.inflating_pdf(512 * 1024**2), kind="pdf")
    # The next document is read as ever.
    assert box.parse_in_box(hostile_corpus.readable_pdf(), kind="pdf").sections


@pytest.mark.parametrize("fault", ["abort", "segfault"])
def test_a_parser_that_crashes_fails_the_document_and_not_the_caller(settings: Settings, fault: str) -> None:
    settings.INGESTION_BOX_TEST_FAULTS = True
    with pytest.raises(IngestionError, match="The parser crashed on this PDF"):
        box.parse_in_box(hostile_corpus.faulting_pdf(fault), kind="pdf")
    assert box.parse_in_box(hostile_corpus.readable_pdf(), kind="pdf").sections


def test_the_fault_marker_does_nothing_unless_the_test_setting_is_on() -> None:
    document = box.parse_in_box(hostile_corpus.faulting_pdf("abort"), kind="pdf")
    assert "Fault injection." in document.sections[0].text


def test_a_parser_over_its_cpu_time_is_stopped(settings: Settings) -> None:
    settings.INGESTION_BOX_TEST_FAULTS = True
    settings.INGESTION_BOX_CPU_SECONDS = 1
    settings.INGESTION_BOX_WALL_SECONDS = 30
    with pytest.raises(IngestionError, match="Reading this PDF took longer than 1 second,"):
        box.parse_in_box(hostile_corpus.faulting_pdf("spin"), kind="pdf")


def test_a_parser_past_its_deadline_is_killed_and_nothing_is_left_running(settings: Settings) -> None:
    settings.INGESTION_BOX_TEST_FAULTS = True
    settings.INGESTION_BOX_WALL_SECONDS = 1
    started = time.monotonic()
    with pytest.raises(IngestionError, match="Reading this PDF took longer than 1 second,"):
        box.parse_in_box(hostile_corpus.faulting_pdf("sleep"), kind="pdf")
    assert time.monotonic() - started < 1 + box.KEEPER_GRACE_SECONDS
    zygote = box.zygote_pid()
    assert zygote is not None
    # The keeper and its parser are gone; only the zygote stays, waiting for the next document.
    deadline = time.monotonic() + 5
    while psutil.Process(zygote).children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert psutil.Process(zygote).children() == []


def test_a_zygote_that_died_is_started_again() -> None:
    box.parse_in_box(hostile_corpus.readable_pdf(), kind="pdf")
    first = box.zygote_pid()
    assert first is not None
    psutil.Process(first).kill()
    psutil.Process(first).wait(5)
    assert box.parse_in_box(hostile_corpus.readable_pdf(), kind="pdf").sections
    assert box.zygote_pid() not in (None, first)


def test_the_zygote_is_a_fresh_interpreter_without_the_callers_modules() -> None:
    box.parse_in_box(hostile_corpus.readable_pdf(), kind="pdf")
    zygote = box.zygote_pid()
    assert zygote is not None
    process = psutil.Process(zygote)
    # Not a fork of this process (which has pytest, Django's apps and the database loaded).
    command = process.cmdline()
    assert command[1] == "-c" and "box.zygote_main" in command[2]
    assert process.memory_info().rss < 150 * 1024**2
