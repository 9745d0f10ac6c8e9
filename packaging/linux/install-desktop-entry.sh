#!/bin/sh
# Add Würstchen Desktop to this user's application menu, pointing at this unpacked folder.
# Run it again after moving the folder; remove the two files it names to undo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
mkdir -p "$apps" "$icons"
cp "$here/wuerstchen-desktop.png" "$icons/wuerstchen-desktop.png"
sed -e "s|^Exec=.*|Exec=\"$here/wuerstchen-desktop\"|" \
    -e "s|^Icon=.*|Icon=$icons/wuerstchen-desktop.png|" \
    "$here/wuerstchen-desktop.desktop" > "$apps/wuerstchen-desktop.desktop"
chmod +x "$apps/wuerstchen-desktop.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "Installed $apps/wuerstchen-desktop.desktop and $icons/wuerstchen-desktop.png"
