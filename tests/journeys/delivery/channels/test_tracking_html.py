"""Click and open tracking rewrite only the real links of an email's HTML."""

from __future__ import annotations

from journeys.delivery.channels.html_tracking import add_tracking


def track(url: str) -> str:
    return f"https://t.example/c?u={url}"


def test_links_are_rewritten_and_everything_else_is_left_alone() -> None:
    source = (
        "<html><body>\r\n"
        '<!-- <a href="http://commented.example">old</a> -->\n'
        "<p>Hi <A class=x HREF='https://shop.example/cart?a=1&amp;b=2' >cart</A>\n"
        '<a href="mailto:help@shop.example">mail us</a>\n'
        '<a data-journeys-no-track href="https://shop.example/privacy">privacy</a>\n'
        "<script>var s = \"<a href='http://script.example'>\";</script>"
        "<a href=https://bare.example/x>bare</a></p>\n"
        "</body></html>"
    )
    out = add_tracking(source, track, None)
    expected = source.replace(
        "HREF='https://shop.example/cart?a=1&amp;b=2'",
        'HREF="https://t.example/c?u=https://shop.example/cart?a=1&amp;b=2"',
    ).replace(
        "href=https://bare.example/x>", 'href="https://t.example/c?u=https://bare.example/x">'
    )
    assert out == expected


def test_a_link_the_callback_declines_is_kept() -> None:
    source = '<a href="https://keep.example">k</a><a href="https://track.example">t</a>'
    out = add_tracking(source, lambda url: None if "keep" in url else track(url))
    assert out == (
        '<a href="https://keep.example">k</a>'
        '<a href="https://t.example/c?u=https://track.example">t</a>'
    )


def test_pixel_goes_before_body_end_or_at_the_end() -> None:
    pixel = "https://t.example/o.gif?d=1&s=x"
    with_body = add_tracking("<html><body><p>Hi</p></body></html>", track, pixel)
    assert with_body == (
        '<html><body><p>Hi</p><img src="https://t.example/o.gif?d=1&amp;s=x" width="1" '
        'height="1" alt="" style="display:block;width:1px;height:1px;border:0" /></body></html>'
    )
    fragment = add_tracking("<p>Hi</p>", track, pixel)
    assert fragment.startswith("<p>Hi</p><img src=")


def test_quotes_in_a_tracked_url_are_escaped() -> None:
    out = add_tracking('<a href="https://x.example">x</a>', lambda url: url + '?q="><script>')
    assert out == '<a href="https://x.example?q=&quot;&gt;&lt;script&gt;">x</a>'
