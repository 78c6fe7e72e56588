"""The kinds of a ranked hashtag: what `--only` picks, what `--group` orders, what json's `kind` says.

Standard library only: the Click layer reads it when the CLI starts, before any model code loads.
"""

#: content = what the photo shows; reach = a popular tag the photo does not show (#love).
KINDS = ("content", "reach")
