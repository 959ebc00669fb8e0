"""The browser tests find a Chromium or Chrome wherever the usual installs put it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import BROWSER_NAMES, BrowserNotFoundError, find_browser


def executable(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("name", BROWSER_NAMES)
def test_each_usual_name_on_path_is_found(tmp_path: Path, name: str) -> None:
    browser = executable(tmp_path, name)
    assert find_browser({"PATH": str(tmp_path)}, paths=()) == str(browser)


def test_chromium_path_wins_over_path(tmp_path: Path) -> None:
    executable(tmp_path, "chromium")
    chosen = executable(tmp_path, "my-chrome")
    env = {"PATH": str(tmp_path), "CHROMIUM_PATH": str(chosen)}
    assert find_browser(env, paths=()) == str(chosen)


def test_a_wrong_chromium_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(BrowserNotFoundError, match=f"CHROMIUM_PATH={missing} is not an executable"):
        find_browser({"PATH": str(tmp_path), "CHROMIUM_PATH": str(missing)}, paths=())


def test_a_usual_install_path_is_found_off_path(tmp_path: Path) -> None:
    browser = executable(tmp_path, "chrome")
    paths = (str(tmp_path / "absent"), str(browser))
    assert find_browser({"PATH": ""}, paths=paths) == str(browser)


def test_no_browser_says_what_was_tried_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BrowserNotFoundError) as caught:
        find_browser({"PATH": str(tmp_path)}, paths=("/nowhere/chrome",))
    message = str(caught.value)
    assert "google-chrome" in message
    assert "/nowhere/chrome" in message
    assert "apt-get install -y chromium" in message
    assert "CHROMIUM_PATH" in message
