"""Prompt lists (one prompt per line, in the prompt box or a file) and wildcards (``{a|b}`` choices and
``__name__`` lists from the wildcards folder), expanded from the seed. Plain Python: no torch, no Qt."""
