"""Jobs: what the command line and the window ask for, the one runner that does it and writes its files,
and reproducing a file from its record. No Qt here; the window's worker runs these on its thread."""
