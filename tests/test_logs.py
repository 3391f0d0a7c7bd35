"""Logging: one format for newswatch's events and the libraries' records."""

from __future__ import annotations

import json
import logging
import warnings

import pytest
import structlog

from service.logs import configure_logging


@pytest.mark.usefixtures("restore_logging")
def test_json_mode_writes_only_json_lines_whoever_logs(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    structlog.get_logger("newswatch").info("feed polled", feed="AzerNews", new=3)
    logging.getLogger("watchfiles.main").info("%d changes detected", 2)
    logging.getLogger("asyncio").info("slow callback")  # a quiet library: below warning
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("celery.worker").error("task crashed", exc_info=True)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated call", DeprecationWarning, stacklevel=1)
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [e["event"] for e in events[:3]] == ["feed polled", "2 changes detected",
                                                "task crashed"]
    assert events[0]["feed"] == "AzerNews" and events[0]["level"] == "info"
    assert events[1]["logger"] == "watchfiles.main" and events[1]["level"] == "info"
    assert "ValueError: bad value" in events[2]["exception"]
    assert events[3]["logger"] == "py.warnings" and "deprecated call" in events[3]["event"]
    assert len(events) == 4  # the asyncio record stayed below its level
    assert all(e["timestamp"].endswith("Z") for e in events)


@pytest.mark.usefixtures("restore_logging")
def test_console_mode_renders_library_records_like_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("debug", "console")
    logging.getLogger("watchfiles.main").warning("%d changes detected", 5)
    structlog.get_logger("newswatch").debug("feed not modified", feed="AzerNews")
    err = capsys.readouterr().err
    assert "5 changes detected" in err and "watchfiles.main" in err
    assert "feed not modified" in err and "feed=AzerNews" in err
    assert not any(line.startswith("{") for line in err.splitlines())
