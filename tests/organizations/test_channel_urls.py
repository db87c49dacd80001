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


# ---- channels that fit real platforms --------------------------------------------------------

from dataclasses import dataclass  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from coordinator.i18n import _catalog  # noqa: E402
from coordinator.organizations.channels import (  # noqa: E402
    FAMILIES,
    MESSAGES,
    SHORT_HOSTS,
    ChooseChannel,
    OnChannel,
    Refused,
    channel_problem,
    parse,
    resolve,
)


@dataclass
class FakeChannel:
    id: int
    url: str
    name: str = ""


FB = FakeChannel(1, "https://www.facebook.com/tinhdoan")
FB_SUB = FakeChannel(2, "https://www.facebook.com/tinhdoan/groups-x")
YT = FakeChannel(3, "https://www.youtube.com/@tinhdoan")
YT2 = FakeChannel(4, "https://www.youtube.com/channel/UCabc")
TT = FakeChannel(5, "https://www.tiktok.com/@tinhdoan")
SITE = FakeChannel(6, "https://tinhdoan.vn/")
CHANNELS = [FB, FB_SUB, YT, YT2, TT, SITE]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.facebook.com/",
        "https://facebook.com",
        "https://m.facebook.com/?ref=1",
        "https://youtube.com",
        "https://www.youtube.com/",
        "https://tiktok.com/",
        "https://t.me/",
        "https://zalo.me",
    ],
)
def test_it_refuses_a_whole_platform_as_a_channel(url):
    assert channel_problem(url) == "channel_is_platform"


@pytest.mark.parametrize(
    "url",
    [
        "https://youtu.be/abc",
        "https://fb.watch/xyz/",
        "https://www.youtube.com/watch?v=abc",
        "https://www.facebook.com/share/p/1/",
        "https://vm.tiktok.com/ZS123/",
        "https://bit.ly/3abc",
    ],
)
def test_it_refuses_a_short_or_video_link_as_a_channel(url):
    assert channel_problem(url) == "channel_is_short_link"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.facebook.com/tinhdoan",
        "https://www.facebook.com/profile.php?id=1000123",
        "https://www.youtube.com/@tinhdoan",
        "https://www.tiktok.com/@tinhdoan",
        "https://tinhdoan.vn/",  # a website is its own channel
        "https://tinhdoan.vn/tin-tuc",
    ],
)
def test_it_accepts_a_channel_that_names_an_account(url):
    assert channel_problem(url) is None


def test_a_whole_platform_channel_registered_before_never_matches():
    assert not url_belongs_to("https://www.facebook.com/anyone/posts/1", "https://facebook.com")
    assert resolve("https://www.facebook.com/x/posts/1", [FakeChannel(9, "https://fb.com/")]) == (
        Refused("channel_not_registered")
    )


def test_url_belongs_to_a_whole_platform_is_false():
    assert url_belongs_to("https://www.facebook.com/anyone", "https://www.facebook.com/") is False


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("https://www.facebook.com/tinhdoan/posts/1", FB),
        ("https://www.facebook.com/tinhdoan/groups-x/posts/1", FB_SUB),  # the most specific
        ("https://www.youtube.com/@TinhDoan/videos", YT),
        ("https://www.youtube.com/channel/UCabc/community", YT2),
        ("https://www.tiktok.com/@tinhdoan/video/7312", TT),
        ("https://tinhdoan.vn/tin-tuc/1", SITE),
    ],
)
def test_a_url_that_shows_its_channel_resolves_to_it(url, channel):
    assert resolve(url, CHANNELS) == OnChannel(channel, confirmed_by_coordinator=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "candidates"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", [YT, YT2]),
        ("https://youtu.be/dQw4w9WgXcQ", [YT, YT2]),
        ("https://www.youtube.com/shorts/abc123", [YT, YT2]),
        ("https://m.youtube.com/live/abc", [YT, YT2]),
        ("https://fb.watch/aBc12/", [FB, FB_SUB]),
        ("https://www.facebook.com/watch/?v=123", [FB, FB_SUB]),
        ("https://www.facebook.com/share/v/1AbC/", [FB, FB_SUB]),
        ("https://www.facebook.com/reel/123", [FB, FB_SUB]),
        ("https://vm.tiktok.com/ZS123/", [TT]),
        ("https://bit.ly/3abc", CHANNELS),  # a short link could lead anywhere
    ],
)
def test_a_url_that_hides_its_channel_asks_for_a_choice(url, candidates):
    assert resolve(url, CHANNELS) == ChooseChannel(candidates)  # type: ignore[arg-type]
    chosen = resolve(url, CHANNELS, chosen_id=candidates[-1].id)
    assert chosen == OnChannel(candidates[-1], confirmed_by_coordinator=True)  # type: ignore[arg-type]


def test_a_choice_outside_the_platform_or_against_the_url_is_refused():
    assert resolve("https://youtu.be/x", CHANNELS, chosen_id=FB.id) == Refused(
        "channel_not_candidate"
    )
    assert resolve("https://youtu.be/x", CHANNELS, chosen_id=999) == Refused(
        "channel_not_candidate"
    )
    assert resolve("https://youtu.be/x", [FB]) == Refused("channel_not_registered")
    assert resolve("https://www.facebook.com/tinhdoan/posts/1", CHANNELS, chosen_id=YT.id) == (
        Refused("channel_mismatch")
    )
    assert resolve("not a url", CHANNELS) == Refused("not_a_url")


LOOKALIKES = [
    "https://facebook.com.evil.example/tinhdoan/posts/1",
    "https://faceb00k.com/tinhdoan/posts/1",
    "https://evilfacebook.com/tinhdoan",
    "https://www.facebook.co/tinhdoan",
    "https://youtube.com.evil.example/watch?v=1",
    "https://y0utube.com/@tinhdoan",
    "https://youtu.be.evil.example/abc",
    "https://fb.watch.evil.example/abc",
    "https://xn--facebook-abc.com/tinhdoan",
    "https://fаcebook.com/tinhdoan",  # a Cyrillic а
]


@pytest.mark.parametrize("url", LOOKALIKES)
def test_lookalike_hosts_stay_refused(url):
    assert isinstance(resolve(url, CHANNELS), Refused)
    assert not any(url_belongs_to(url, c.url) for c in CHANNELS)


def test_every_refusal_is_in_both_catalogs():
    for message in MESSAGES.values():
        assert _catalog("vi").get(message), message
        assert _catalog("en").get(message), message
    assert _catalog("vi")[MESSAGES["channel_not_registered"]].startswith("Đường dẫn")


@given(st.text())
def test_the_parser_never_raises_on_any_text(text):
    parse(text)
    channel_problem(text)
    resolve(text, CHANNELS)
    resolve(text, CHANNELS, chosen_id=1)


HOSTILE_HOSTS = st.one_of(
    st.builds(
        lambda d, tail: f"{d}.{tail}",
        st.sampled_from(["facebook.com", "youtube.com", "youtu.be", "fb.watch", "tiktok.com"]),
        st.from_regex(r"[a-z]{1,10}\.[a-z]{2,4}", fullmatch=True),
    ),
    st.builds(
        lambda head, d: f"{head}{d}",
        st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True),
        st.sampled_from(["facebook.com", "youtube.com", "tiktok.com"]),
    ),
    st.from_regex(r"[a-z0-9-]{1,20}\.(com|vn|net|example)", fullmatch=True),
)


@given(HOSTILE_HOSTS, st.from_regex(r"(/[A-Za-z0-9@._?=&-]{0,12}){0,4}", fullmatch=True))
def test_a_lookalike_host_is_never_accepted(host, path):
    real = {d for domains in FAMILIES.values() for d in domains} | SHORT_HOSTS
    if host in real or host == "tinhdoan.vn":
        return  # a platform's own host, not a lookalike
    url = f"https://{host}{path}"
    assert isinstance(resolve(url, CHANNELS), Refused)
    assert isinstance(resolve(url, CHANNELS, chosen_id=YT.id), Refused)


URLISH = st.builds(
    lambda scheme, rest: f"{scheme}{rest}",
    st.sampled_from(["https://", "http://", "HTTPS://www.", "http://[", "https://m.", ""]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
)


@given(URLISH)
def test_a_url_like_text_is_parsed_or_refused_as_not_a_web_address(text):
    from coordinator.errors import Invalid
    from coordinator.organizations.channels import check_url

    try:
        check_url(text)
    except Invalid as error:
        assert error.detail == "Not a web address."
    resolve(text, CHANNELS, chosen_id=3)
    channel_problem(text)


def test_an_unreadable_address_is_not_a_web_address():
    from coordinator.errors import Invalid
    from coordinator.organizations.channels import check_url

    for text in ("http://[", "https://[::1", "javascript:alert(1)", "https://", "ftp://x.vn/a"):
        with pytest.raises(Invalid, match="Not a web address"):
            check_url(text)
