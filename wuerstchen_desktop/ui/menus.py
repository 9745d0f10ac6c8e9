"""The window's menu bar: File, Edit, View, Generate, Help. Each command is one QAction, in one menu, with
its keys; the gallery's context menu and the keyboard shortcuts dialog reuse these actions. On macOS Qt
moves About, Preferences and Quit to the application menu by their roles."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.ui.help_dialogs import ShortcutsDialog, about_text

if TYPE_CHECKING:
    from wuerstchen_desktop.ui.main_window import MainWindow

THEMES = ("system", "dark", "light")


class Menus(QObject):
    """Builds the menu bar of ``window`` and holds its actions."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = w = window
        g = window.gallery_actions
        role = QAction.MenuRole
        # File
        self.open = self._action(self.tr("&Open image…"), ["Ctrl+O"], g.open_image)
        self.export = self._action(self.tr("&Export without metadata…"), [], self.export_current)
        self.show_output = self._action(self.tr("Show output &folder"), [], self.show_output_folder)
        quit_text = self.tr("E&xit") if sys.platform == "win32" else self.tr("&Quit")
        self.quit = self._action(quit_text, ["Ctrl+Q"], w.close, role.QuitRole)
        # Edit
        self.copy_image = self._action(self.tr("&Copy image"), ["Ctrl+C"], w.copy_image)
        self.copy_params = self._action(self.tr("Copy &parameters"), ["Ctrl+Shift+C"], g.copy_parameters)
        self.paste = self._action(self.tr("P&aste parameters"), ["Ctrl+Shift+V"], g.paste_parameters)
        self.delete = self._action(self.tr("&Delete"), ["Del"], g.delete_current)
        self.undo = self._action(self.tr("&Undo delete"), ["Ctrl+Z"], g.undo_delete)
        self.settings = self._action(self.tr("&Settings…"), ["Ctrl+,"], w.open_settings, role.PreferencesRole)
        # View
        self.fit = self._action(self.tr("&Fit / 100%"), ["Ctrl+0"], w.view.toggle_fit)
        self.themes = QActionGroup(self)
        names = {"system": self.tr("&System"), "dark": self.tr("&Dark"), "light": self.tr("&Light")}
        for theme in THEMES:
            act = self._action(names[theme], [], lambda _=False, t=theme: self.set_theme(t))
            act.setCheckable(True)
            act.setData(theme)
            self.themes.addAction(act)
        self.show_queue = w.queue_dock.toggleViewAction()
        self.show_queue.setText(self.tr("Show the &queue"))
        # Generate
        self.generate = self._action(self.tr("&Generate"), ["Ctrl+Return", "Ctrl+Enter"], w.generate)
        self.compose = self._action(
            self.tr("&Compose"), ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"], w.flow.compose
        )
        self.cancel = self._action(self.tr("C&ancel"), ["Esc"], w.service.cancel_current)
        self.cancel_all = self._action(self.tr("Cancel a&ll…"), ["Shift+Esc"], self.confirm_cancel_all)
        # Help
        self.shortcuts = self._action(self.tr("&Keyboard shortcuts"), ["F1"], self.show_shortcuts)
        self.log_folder = self._action(self.tr("Open &log folder"), [], self.open_log_folder)
        self.wildcards = self._action(self.tr("Open &wildcards folder"), [], self.open_wildcards_folder)
        self.about = self._action(self.tr("&About Würstchen Desktop"), [], self.show_about, role.AboutRole)
        self._build()
        self.show_theme(w.settings.theme)
        self.confirm_box: QMessageBox | None = None
        self.dialog: QObject | None = None

    def _action(
        self, text: str, keys: list[str], slot: Callable[..., Any], role: QAction.MenuRole | None = None
    ) -> QAction:
        act = QAction(text, self.w)
        act.setShortcuts([QKeySequence(k) for k in keys])
        act.setMenuRole(role if role is not None else QAction.MenuRole.NoRole)
        act.triggered.connect(slot)
        self.w.addAction(act)  # its keys work while the menu bar is hidden (macOS, full screen)
        return act

    def _build(self) -> None:
        bar = self.w.menuBar()
        menus: list[tuple[str, list[QAction | QMenu | None]]] = [
            (self.tr("&File"), [self.open, self.export, self.show_output, None, self.quit]),
            (
                self.tr("&Edit"),
                [
                    self.copy_image,
                    self.copy_params,
                    self.paste,
                    None,
                    self.delete,
                    self.undo,
                    None,
                    self.settings,
                ],
            ),
            (self.tr("&View"), [self.fit, self._theme_menu(), None, self.show_queue]),
            (self.tr("&Generate"), [self.generate, self.compose, None, self.cancel, self.cancel_all]),
            (self.tr("&Help"), [self.shortcuts, self.log_folder, self.wildcards, None, self.about]),
        ]
        menus[1][1].extend([None, self.settings])
        for title, entries in menus:
            menu = bar.addMenu(title)
            for entry in entries:
                if entry is None:
                    menu.addSeparator()
                elif isinstance(entry, QMenu):
                    menu.addMenu(entry)
                else:
                    menu.addAction(entry)

    def _theme_menu(self) -> QMenu:
        menu = QMenu(self.tr("&Theme"), self.w)
        menu.addActions(self.themes.actions())
        return menu

    # -- commands ---------------------------------------------------------------------------------
    def export_current(self) -> None:
        item = self.w.gallery.current_item()
        if item is None:
            self.w.statusBar().showMessage(self.tr("Select an image in the history first."), 5_000)
            return
        self.w.gallery_actions.export_clean(item)

    def show_output_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.w.out_dir)))

    def open_log_folder(self) -> None:
        folder = self.w.log_file.parent if self.w.log_file is not None else appdirs.log_dir()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def open_wildcards_folder(self) -> None:
        """The folder of wildcard lists (``name.txt`` is ``__name__``), made on first use."""
        folder = appdirs.wildcards_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            message = self.tr("Cannot make the wildcards folder {0}: {1}").format(folder, exc.strerror or exc)
            self.w.statusBar().showMessage(message, 10_000)
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def set_theme(self, theme: str) -> None:
        if theme != self.w.settings.theme:
            self.w.apply_settings(dataclasses.replace(self.w.settings, theme=theme))

    def show_theme(self, theme: str) -> None:
        for act in self.themes.actions():
            act.setChecked(act.data() == theme)

    def confirm_cancel_all(self) -> None:
        """Says what Cancel all will cancel, and cancels it only when the artist agrees."""
        waiting, running = self.w.service.pending, self.w.service.busy
        jobs = self.tr("{0} waiting job") if waiting == 1 else self.tr("{0} waiting jobs")
        if running and waiting:
            question = self.tr("Cancel the running job and {0}?").format(jobs.format(waiting))
        elif running:
            question = self.tr("Cancel the running job?")
        elif waiting:
            question = self.tr("Cancel the {0}?").format(jobs.format(waiting))
        else:
            self.w.statusBar().showMessage(self.tr("No job is running or waiting."), 5_000)
            return
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Cancel all"), question, buttons, self.w)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).clicked.connect(self.w.service.cancel_all)
        box.open()
        self.confirm_box = box

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self.w.menuBar(), self.w)
        dialog.open()
        self.dialog = dialog

    def show_about(self) -> None:
        s = self.w.settings
        box = QMessageBox(self.w)
        box.setWindowTitle(self.tr("About Würstchen Desktop"))
        box.setText(about_text(s.prior, s.decoder, self.w.auto_choice))
        box.open()
        self.dialog = box
