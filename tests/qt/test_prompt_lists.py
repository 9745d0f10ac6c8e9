"""Several prompts and wildcards in the window, through the real worker on its own QThread: one job per
line of the prompt box (the button says how many), each cancelled on its own, Shift+Enter keeping a line
break inside one prompt, wildcards shown expanded and recorded with their template, the wildcards folder
a menu click away. Tiny checkpoints, real files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices

from tests.helpers.window import WAIT_MS, fast
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.prompts.wildcards import expand

THREE = "a red fox\n\nan owl at dusk\n   \na lighthouse in fog\n"


def finished_paths(window) -> list[Path]:
    paths: list[Path] = []
    window.service.job_finished.connect(lambda result: paths.extend(result.paths))
    return paths


def test_three_lines_make_three_jobs_and_three_images_each_with_its_prompt(qtbot, make_window) -> None:
    window = make_window()
    fast(window, seed=21)
    window.panel.prompt.setPlainText(THREE)
    assert window.panel.generate_button.text() == "Generate 3 prompts"
    paths = finished_paths(window)
    window.generate()
    jobs = window.service.jobs()
    assert [j.params.prompt for j in jobs] == ["a red fox", "an owl at dusk", "a lighthouse in fog"]
    assert len({j.id for j in jobs}) == 3 and window.queue.list.count() == 3
    qtbot.waitUntil(lambda: len(paths) == 3 and window.gallery.count() == 3, timeout=WAIT_MS)
    records = [read_record(p).params for p in paths]
    assert [r.prompt for r in records] == ["a red fox", "an owl at dusk", "a lighthouse in fog"]
    assert {r.seed for r in records} == {21} and all(r.prompt_template is None for r in records)
    assert window.panel.generate_button.text() == "Generate 3 prompts"


def test_cancelling_one_prompt_leaves_the_others(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="the running one", steps=200)
    with qtbot.waitSignal(window.service.progress, timeout=WAIT_MS):
        window.generate()  # runs until cancelled: the three below wait behind it
    fast(window, seed=3)
    window.panel.prompt.setPlainText(THREE)
    window.generate()
    assert window.panel.generate_button.text() == "Queue 3 prompts (3 waiting)"
    rows = window.queue.list
    assert rows.count() == 4 and "an owl at dusk" in rows.item(2).text()
    rows.setFocus()
    rows.setCurrentRow(2)
    qtbot.keyClick(rows, Qt.Key.Key_Delete)
    paths = finished_paths(window)
    window.service.cancel_current()
    qtbot.waitUntil(lambda: len(paths) == 2 and not window.service.busy, timeout=WAIT_MS)
    assert [read_record(p).params.prompt for p in paths] == ["a red fox", "a lighthouse in fog"]


def test_shift_enter_breaks_a_line_inside_one_prompt(qtbot, make_window) -> None:
    window = make_window()
    fast(window)
    box = window.panel.prompt
    box.clear()
    box.setFocus()
    qtbot.keyClicks(box, "a castle on a hill,")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "at night")
    assert window.panel.generate_button.text() == "Generate"
    qtbot.keyClick(box, Qt.Key.Key_Return)
    qtbot.keyClicks(box, "an owl")
    assert window.panel.generate_button.text() == "Generate 2 prompts"
    jobs = window.panel.jobs()
    assert jobs is not None and [j.prompt for j in jobs] == ["a castle on a hill,\nat night", "an owl"]
    assert "Shift+Enter" in box.placeholderText() and "Shift+Enter" in box.toolTip()
    assert window.panel.job_params(compose=True) is None  # the contact sheet is for one prompt
    assert "Compose takes one prompt" in window.panel.error_label.text()
    # A prompt with line breaks, put back in the box from an image, stays one prompt.
    window.panel.set_params(jobs[0])
    assert window.panel.generate_button.text() == "Generate"
    assert window.panel.params().prompt == "a castle on a hill,\nat night"


def test_wildcards_show_expanded_and_each_image_records_its_prompt_and_template(
    qtbot, make_window, wildcards_dir: Path
) -> None:
    wildcards_dir.mkdir()
    (wildcards_dir / "colour.txt").write_text("red\nblue\ngreen\ngold\nteal\ngrey\n", encoding="utf-8")
    template = "a __colour__ {cat|owl|fox}"
    window = make_window()
    fast(window, seed=7, images=3)
    window.panel.prompt.setPlainText(template)
    label = window.panel.expanded
    assert label.isVisible() and label.text() == f"Seed 7 makes: “{expand(template, 7, wildcards_dir)}”"
    paths = finished_paths(window)
    window.generate()
    (job,) = window.service.jobs()
    assert job.params.prompt == expand(template, 7, wildcards_dir)  # what the queue row shows
    assert expand(template, 7, wildcards_dir) in window.queue.list.item(0).toolTip()
    qtbot.waitUntil(lambda: len(paths) == 3 and window.gallery.count() == 3, timeout=WAIT_MS)
    records = [read_record(p).params for p in paths]
    assert [r.prompt for r in records] == [expand(template, s, wildcards_dir) for s in (7, 8, 9)]
    assert all(r.prompt_template == template for r in records)
    assert {item.prompt for item in window.gallery.model.items} == {r.prompt for r in records}


def test_a_missing_list_is_said_under_the_box_and_nothing_is_queued(
    qtbot, make_window, wildcards_dir: Path
) -> None:
    window = make_window()
    fast(window)
    window.panel.prompt.setPlainText("a cat\na __breed__ dog")
    assert "no wildcard list __breed__" in window.panel.expanded.text()
    window.generate()
    error = window.panel.error_label
    assert error.isVisible() and str(wildcards_dir / "breed.txt") in error.text()
    assert window.service.jobs() == []


class Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_help_opens_the_wildcards_folder_making_it_first(make_window, wildcards_dir: Path) -> None:
    window = make_window()
    opened = Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        assert not wildcards_dir.exists()
        window.menus.wildcards.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert wildcards_dir.is_dir() and [Path(u.toLocalFile()) for u in opened.urls] == [wildcards_dir]
    # the Help entry kept while its menu is read: PySide6 6.7 may drop the menu's wrapper with the entry's
    help_entry = next(m for m in window.menuBar().actions() if m.text() == "&Help")
    help_menu = help_entry.menu()
    assert window.menus.wildcards in help_menu.actions()
