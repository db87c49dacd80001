"""Pages and templates never test a role: they ask `coordinator.auth.policy` (templates read its
answers as `can`). And the low modules import no slice, so the arrows point one way only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "coordinator"
ROLE_TEST = re.compile(
    r"actor\.role|\.is_admin\b|\brole\s*==|\brole\s+in\b|\brole\s*!=|\brequire_role\("
)
# Showing the actor's role by its translated name is not a test of it.
SHOWN = re.compile(r"_\(\s*actor\.role\s*\)")
# The module that answers the questions is the only place that may look at a role.
DECIDERS = {PACKAGE / "auth" / "policy.py"}
# Inside the auth slice a role may be compared with data (the roles a deployment chose to
# require a second factor for, the role being set): only a comparison with a role's name, or
# `is_admin`/`require_role`, is a rule that belongs in policy.
NAMES = r"""\(?\s*["'](?:admin|coordinator|lead|leadership)["']"""
RULE_IN_AUTH = re.compile(
    rf"\brole\s*(?:==|!=|in\b|not\s+in\b)\s*{NAMES}|\.is_admin\b|\brequire_role\("
)
SLICES = ("auth", "campaigns", "organizations", "tallies", "bots", "sandbox", "web")
LOW = ("http.py", "db.py", "base.py", "i18n.py", "settings.py", "clock.py", "errors.py")
LOW += ("pagination.py", "delivery")
# Delivery's surfaces, where admins review the outbox through the API and a page, sit on top of
# its queue like any slice's pages: they may ask the policy and use the page helpers.
SURFACES = ("api.py", "web.py", "review.py")


def page_sources() -> list[Path]:
    """Every template, every slice's `web.py` or `web/` package, and the shared `web/`."""
    found = {
        *ROOT.glob("templates/**/*.html"),
        *PACKAGE.glob("**/web.py"),
        *PACKAGE.glob("**/web/*.py"),
        *PACKAGE.glob("web/*.py"),
    }
    return sorted(found - DECIDERS)


def role_tests(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if ROLE_TEST.search(SHOWN.sub("", line))
    ]


def test_the_scan_sees_the_pages():
    sources = page_sources()
    assert ROOT / "templates" / "base.html" in sources
    assert PACKAGE / "web" / "context.py" in sources
    assert role_tests_in("{% if actor.role == 'admin' %}") and role_tests_in("x.is_admin")
    assert role_tests_in("require_role(actor, 'lead')") and role_tests_in("u.role in roles")
    assert not role_tests_in("{{ _(actor.role) }}") and not role_tests_in("can.administers")


def role_tests_in(line: str) -> bool:
    return bool(ROLE_TEST.search(SHOWN.sub("", line)))


def test_no_page_or_template_tests_a_role():
    found = [hit for path in page_sources() for hit in role_tests(path)]
    assert not found, "ask coordinator.auth.policy instead:\n" + "\n".join(found)


def auth_sources() -> list[Path]:
    return sorted(set((PACKAGE / "auth").rglob("*.py")) - DECIDERS)


def auth_rules_in(line: str) -> bool:
    return bool(RULE_IN_AUTH.search(line))


def test_the_auth_scan_sees_a_rule_and_not_data():
    assert PACKAGE / "auth" / "scope.py" in auth_sources()
    assert PACKAGE / "auth" / "policy.py" not in auth_sources()
    assert auth_rules_in('if actor.role == "leadership":') and auth_rules_in("actor.is_admin")
    assert auth_rules_in('user.role in ("admin", "leadership")')
    assert auth_rules_in("if role != 'admin':") and auth_rules_in('User.role == "admin"')
    assert not auth_rules_in("return who.role in await required_roles(db, admins)")
    assert not auth_rules_in("if role not in ROLES:") and not auth_rules_in("user.role != role")


def test_the_auth_slice_asks_the_policy_too():
    """Query filters (`scope`), services and the sign-in path ask `policy` as pages do, so a
    rule such as "leadership sees no names" is written once."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in auth_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if auth_rules_in(line)
    ]
    assert not found, "ask coordinator.auth.policy instead:\n" + "\n".join(found)
    # scope asks policy, so policy (where `Actor` lives) must not import scope: no cycle.
    assert "coordinator.auth.scope" not in runtime_imports(PACKAGE / "auth" / "policy.py")


def low_modules() -> list[Path]:
    paths: list[Path] = []
    for name in LOW:
        target = PACKAGE / name
        paths += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return [path for path in paths if path.exists() and not surface(path)]


def surface(path: Path) -> bool:
    inside = path.relative_to(PACKAGE).parts
    return len(inside) > 1 and (inside[-1] in SURFACES or "web" in inside[1:-1])


def runtime_imports(path: Path) -> set[str]:
    """The modules a file imports when it runs (`if TYPE_CHECKING:` blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def slice_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "coordinator" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in SLICES else None


def test_the_low_modules_import_no_slice():
    assert PACKAGE / "http.py" in low_modules()
    upward = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in low_modules()
        for module in runtime_imports(path)
        if slice_of(module)
    }
    assert not upward, "\n".join(sorted(upward))


def test_no_delivery_surface_imports_the_slices_above_it():
    """Delivery's admin surfaces may ask the policy (auth) and use the page helpers (web), but
    like its queue they import nothing of the slices that queue through it."""
    above = {"campaigns", "organizations", "tallies", "bots", "sandbox"}
    delivery = sorted((PACKAGE / "delivery").rglob("*.py"))
    assert {p.stem for p in delivery} >= {"models", "queue", "store", "review", "web", "api"}
    upward = {
        f"{path.relative_to(ROOT)} imports {module}"
        for path in delivery
        for module in runtime_imports(path)
        if slice_of(module) in above
    }
    assert not upward, "\n".join(sorted(upward))


def test_the_import_scan_sees_an_upward_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "from coordinator import auth\n"
        "import coordinator.web.context\n"
        "if TYPE_CHECKING:\n"
        "    from coordinator.campaigns.models import Campaign\n"
        "def f():\n"
        "    from coordinator.tallies import period\n",
        encoding="utf-8",
    )
    slices = {slice_of(module) for module in runtime_imports(sample)} - {None}
    assert slices == {"auth", "web", "tallies"}
