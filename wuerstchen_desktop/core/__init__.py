"""Everything the app can do, headless. Never imports Qt."""
