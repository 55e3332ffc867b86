from __future__ import annotations

from dockyard.hub.web.markdown import render


def test_structure() -> None:
    text = (
        "# Title\n\nSome **bold** and `code`.\nSame paragraph.\n\n- one\n- two\n\n```\nx < y\n```"
    )
    out = render(text)
    assert "<h3>Title</h3>" in out
    assert "<p>Some <strong>bold</strong> and <code>code</code>. Same paragraph.</p>" in out
    assert "<ul><li>one</li><li>two</li></ul>" in out
    assert "<pre><code>x &lt; y</code></pre>" in out


def test_no_markup_gets_through() -> None:
    evil = (
        "<script>alert(1)</script>\n# <img src=x onerror=alert(1)>\n"
        '[click](javascript:alert(1)) [ok](https://example.org/a"onmouseover=x)\n'
        "```\n</code></pre><script>x</script>\n```"
    )
    out = render(evil)
    assert "<script" not in out and "<img" not in out
    assert 'href="javascript' not in out
    # the quote is an entity inside the attribute, so it cannot open a new one
    assert 'href="https://example.org/a&quot;onmouseover=x"' in out
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;" in out


def test_links_are_http_only_and_nofollow() -> None:
    out = render("[site](https://example.org/x)")
    assert out == '<p><a href="https://example.org/x" rel="nofollow noopener">site</a></p>'
    assert "<a" not in render("[x](ftp://example.org)")
