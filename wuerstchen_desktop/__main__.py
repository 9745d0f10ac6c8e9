import multiprocessing
import sys

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.runtime import ensure_std_streams

if __name__ == "__main__":
    # In a bundle, a child process started by multiprocessing re-runs this executable; this hands it over.
    multiprocessing.freeze_support()
    ensure_std_streams()
    sys.exit(main())
