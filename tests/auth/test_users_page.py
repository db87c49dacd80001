"""The new-user form in the browser: any refusal shows the form again as an HTML page, with the
errors next to their fields and the input kept (the password excepted)."""

from __future__ import annotations

import os

from litestar.testing import AsyncTestClient

from coordinator.app import create_app
from coordinator.settings import read_settings
from tests.factories import PASSWORD
from tests.web.test_web_authorization import sign_in


async def _post_user(client: AsyncTestClient, form: dict[str, str]):  # type: ignore[type-arg]
    headers = {"x-csrftoken": client.cookies["coordinator_csrf"]}
    return await client.post("/users", data=form, headers=headers, follow_redirects=False)


async def test_it_shows_a_refused_new_user_as_the_form_with_inline_errors(world):
    env = {**os.environ, "COORDINATOR_DATABASE_URL": world.db.url}
    async with AsyncTestClient(app=create_app(read_settings(env))) as client:
        await sign_in(client, "admin")
        district = str(world.org["district"])
        short = await _post_user(
            client,
            {"username": "moi", "password": "short", "role": "lead", "organization_id": district},
        )
        assert short.status_code == 200  # FORM_ERROR: htmx swaps it
        assert short.headers["content-type"].startswith("text/html")
        assert "<!doctype html>" in short.text.lower()
        assert 'aria-describedby="e-password"' in short.text
        assert 'value="moi"' in short.text  # the username is kept
        assert f'<option value="{district}" selected>' in short.text
        assert 'value="short"' not in short.text  # the password is not
        taken = await _post_user(
            client,
            {"username": "lead", "password": PASSWORD, "role": "lead", "organization_id": district},
        )
        assert taken.status_code == 200
        assert taken.headers["content-type"].startswith("text/html")
        assert 'aria-describedby="e-username"' in taken.text
        assert 'value="lead"' in taken.text
