"""The parser the README walk relies on: what counts as a command, and where a comment starts."""

from __future__ import annotations

import pytest
from markdown_commands import sh_commands, split_comment

PAGE = """# Title

```sh
make demo   # a comment
```

## Deploy

Text with `inline` code.

```text
not a command
```

```sh
# or instead:  kubectl apply -k x
curl -s localhost:8000/p -H 'Content-Type: application/json' \\
     -d '{"a":"#1"}'    # the answer
kubectl wait sdep/iris --for=jsonpath='{.status.state}'=Available
```
"""


def test_commands_come_in_page_order_with_their_section_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    commands = sh_commands(page)
    assert [(c.section, c.line, c.text, c.comment) for c in commands] == [
        ("", 4, "make demo", "a comment"),
        (
            "Deploy",
            17,
            """curl -s localhost:8000/p -H 'Content-Type: application/json' -d '{"a":"#1"}'""",
            "the answer",
        ),
        ("Deploy", 19, "kubectl wait sdep/iris --for=jsonpath='{.status.state}'=Available", ""),
    ]


def test_a_hash_inside_quotes_or_a_word_is_not_a_comment():
    assert split_comment("""echo '# not' "# not" a#b  # yes""") == ("""echo '# not' "# not" a#b""", "yes")


@pytest.mark.parametrize(
    "text, problem", [("```sh\nls\n", "never closed"), ("```sh\nls \\\n```\n", "line continuation")]
)
def test_a_broken_block_is_an_error_naming_the_page(tmp_path, text, problem):
    page = tmp_path / "page.md"
    page.write_text(text)
    with pytest.raises(ValueError, match=problem):
        sh_commands(page)
