"""Image files: the record, A1111 text, JSON record, EXIF, atomic writes and the defensive reader."""
