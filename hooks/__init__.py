"""Build hooks of the Wharf Python builder image, run by its s2i scripts (``python -m hooks ...``).

Each hook is an ordinary module, importable and testable outside an image: ``deps`` installs the
model's dependencies, ``check`` imports the user class before the image is committed,
``licences`` writes the licence report, ``smoke`` (host side) runs a built image and tests it.
Problems are printed as ``wharf-hook error: ...`` lines so a build log can be searched for them.
"""

ERROR_PREFIX = "wharf-hook error: "
