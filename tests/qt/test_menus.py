"""The menu bar: every shortcut the README lists is in a menu, one action per command, the macOS roles,
the shortcuts dialog read from the menus, the theme and the About box."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import PySide6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*$")


def readme_shortcuts() -> list[tuple[str, str]]:
    """The (keys, "Menu → Entry …") rows of the README's shortcut table."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^\s*\| Keys \| Command \|", line))
    rows = []
    for line in lines[start + 2 :]:
        found = ROW.match(line)
        if found is None:
            break
        rows.append((found.group(1), found.group(2)))
    return rows


def menu_entries(window) -> dict[str, list[QAction]]:
    """Each top-level menu's title (without "&") and every action in it, submenus included."""

    def walk(menu: QMenu) -> list[QAction]:
        found = []
        for action in menu.actions():
            if action.isSeparator():
                continue  # PySide6 6.7 may drop a separator's wrapper once this walk has ended
            sub = action.menu()
            found.extend(walk(sub) if isinstance(sub, QMenu) else [action])
        return found

    entries = {}
    for action in window.menuBar().actions():
        menu = action.menu()
        assert isinstance(menu, QMenu)
        entries[action.text().replace("&", "")] = walk(menu)
    return entries


def test_every_readme_shortcut_is_in_the_menu_it_names(qtbot, make_window) -> None:
    window = make_window()
    rows = readme_shortcuts()
    assert len(rows) >= 14
    menus = menu_entries(window)
    assert list(menus) == ["File", "Edit", "View", "Generate", "Help"]
    for keys, command in rows:
        title, entry = (part.strip() for part in command.split("→", 1))
        wanted = QKeySequence(keys)
        assert not wanted.isEmpty(), keys
        holders = [a for a in menus[title] if wanted in a.shortcuts()]
        assert len(holders) == 1, f"{keys} is not in the {title} menu"
        name = holders[0].text().replace("&", "")
        assert entry.startswith(name) or (title == "File" and name in ("Quit", "Exit")), (keys, name)


def test_one_action_per_command(qtbot, make_window) -> None:
    window = make_window()
    actions = [a for entries in menu_entries(window).values() for a in entries if not a.isSeparator()]
    assert len(actions) == len(set(actions))
    keys = [k.toString() for a in actions for k in a.shortcuts()]
    assert len(keys) == len(set(keys))  # no key does two things
    # The gallery's context menu reuses the Edit menu's actions, and the menu's keys work in the window.
    assert window.copy_image_action in menu_entries(window)["Edit"]
    assert set(window.actions()) >= set(actions) - {window.menus.show_queue}


def test_macos_application_menu_roles(qtbot, make_window) -> None:
    window = make_window()
    m = window.menus
    assert m.about.menuRole() == QAction.MenuRole.AboutRole
    assert m.settings.menuRole() == QAction.MenuRole.PreferencesRole
    assert m.quit.menuRole() == QAction.MenuRole.QuitRole
    others = [a for a in window.actions() if a not in (m.about, m.settings, m.quit)]
    assert all(a.menuRole() == QAction.MenuRole.NoRole for a in others)  # nothing else moves on macOS


def test_the_shortcuts_dialog_lists_the_menus_own_actions(qtbot, make_window) -> None:
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window.menus.dialog
    assert dialog is not None and dialog.isVisible()
    table = dialog.table
    shown = {table.item(row, 1).text(): table.item(row, 0).text() for row in range(table.rowCount())}
    expected = {
        a.text().replace("&", ""): ", ".join(
            k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts()
        )
        for entries in menu_entries(window).values()
        for a in entries
        if a.shortcuts()
    }
    assert shown == expected and "Cancel all…" in shown


def test_theme_from_the_view_menu(qtbot, make_window) -> None:
    window = make_window()
    dark = next(a for a in window.menus.themes.actions() if a.data() == "dark")
    dark.trigger()
    assert window.settings.theme == "dark" and dark.isChecked()
    assert window.store is not None and window.store.load()[0].theme == "dark"  # saved like the dialog's


def test_about_names_versions_and_models(qtbot, make_window) -> None:
    import wuerstchen_desktop

    window = make_window()
    window.menus.about.trigger()
    text = window.menus.dialog.text()
    assert wuerstchen_desktop.__version__ in text
    assert metadata.version("torch") in text and PySide6.__version__ in text
    assert window.settings.prior in text and window.settings.decoder in text


def test_quit_closes_the_window(qtbot, make_window) -> None:
    window = make_window()
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible())
    assert window.service._thread.isFinished()
