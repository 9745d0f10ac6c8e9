"""Qt objects that run core work off the GUI thread. No widgets here."""
