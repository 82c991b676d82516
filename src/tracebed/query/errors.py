"""Errors of the query languages: a syntax error knows its column and what was expected."""

from __future__ import annotations


class QuerySyntaxError(ValueError):
    """A selector, expression or chain pattern that does not parse.

    `position` is the 0-based offset into `text`, `column` the 1-based column a person reads.
    """

    def __init__(self, text: str, position: int, expected: str, found: str | None = None):
        self.text = text
        self.position = max(0, min(position, len(text)))
        self.expected = expected
        if found is None:
            found = _describe_found(text, self.position)
        self.found = found
        super().__init__(self._message())

    @property
    def column(self) -> int:
        return self.position + 1

    @property
    def reason(self) -> str:
        return f"expected {self.expected}, found {self.found}"

    def _message(self) -> str:
        # One line of context: the text (newlines flattened so the caret lines up) and a caret.
        flat = self.text.replace("\n", " ").replace("\t", " ")
        return (
            f"syntax error at column {self.column}: {self.reason}\n"
            f"  {flat}\n"
            f"  {' ' * self.position}^"
        )


def _describe_found(text: str, position: int) -> str:
    if position >= len(text):
        return "end of input"
    rest = text[position:]
    word = rest.split(None, 1)[0] if rest.strip() else rest
    word = word[:20] if not rest[0].isspace() else rest[0]
    return repr(word)


class QueryEvaluationError(Exception):
    """An expression that parsed but cannot be evaluated (bad JSON for json_path, ...)."""
