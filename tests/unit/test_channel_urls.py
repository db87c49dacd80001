import pytest

from coordinator.organizations.agreements import url_belongs_to

PAGE = "https://www.facebook.com/tinhdoan"


@pytest.mark.parametrize(
    ("url", "belongs"),
    [
        ("https://www.facebook.com/tinhdoan/posts/123", True),
        ("https://facebook.com/tinhdoan/videos/9", True),
        ("https://m.facebook.com/tinhdoan/posts/1", True),
        ("https://www.facebook.com/TinhDoan/posts/1", True),
        ("https://www.facebook.com/tinhdoan", True),
        ("https://www.facebook.com/tinhdoanfake/posts/1", False),
        ("https://www.facebook.com/other/posts/1", False),
        ("https://facebook.com.evil.example/tinhdoan/posts/1", False),
        ("https://evil.example/www.facebook.com/tinhdoan", False),
    ],
)
def test_it_matches_host_and_whole_path_segments(url, belongs):
    assert url_belongs_to(url, PAGE) is belongs
