"""A class with no methods at all: every endpoint runs on the wrapper's defaults."""


class EmptyModel:
    pass
