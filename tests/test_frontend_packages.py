"""The dashboard's browser libraries: pinned exactly, installed by `make setup` from the
lock file, served by this site (never a CDN), and the image installs them the same way."""

from __future__ import annotations

import json
import re

from django.conf import settings

from tests.conftest import PROJECT_DIR

PACKAGE = json.loads((PROJECT_DIR / "package.json").read_text())
LOCK = json.loads((PROJECT_DIR / "package-lock.json").read_text())


def test_every_library_is_pinned_to_one_version_with_an_integrity_hash():
    wanted = {**PACKAGE["dependencies"], **PACKAGE["devDependencies"]}
    assert set(wanted) == {"lightweight-charts", "axe-core"}
    for name, version in wanted.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} {version} is a range"
        locked = LOCK["packages"][f"node_modules/{name}"]
        assert locked["version"] == version and locked["integrity"].startswith("sha512-")
        installed = json.loads((PROJECT_DIR / "node_modules" / name / "package.json").read_text())
        assert installed["version"] == version  # make setup ran npm ci from this lock


def test_the_chart_is_served_from_the_installed_package_and_the_pages_load_nothing_from_elsewhere():
    [(prefix, directory)] = settings.STATICFILES_DIRS
    assert (prefix, directory) == ("vendor/lightweight-charts", PROJECT_DIR / "node_modules" / "lightweight-charts")
    chart = (PROJECT_DIR / "trademonitor" / "static" / "trademonitor" / "chart.js").read_text()
    [imported] = re.findall(r'from\s+"(\.\./vendor/lightweight-charts/[^"]+)"', chart)
    assert (directory / imported.removeprefix("../vendor/lightweight-charts/")).is_file()
    assert (directory / "LICENSE").is_file()  # Apache-2.0: served with its licence
    for path in (PROJECT_DIR / "trademonitor" / "static").rglob("*.js"):
        assert not re.search(r"https?://", path.read_text()), f"{path.name} names another site"
    assert not re.search(r"(src|href)=\"https?://", (PROJECT_DIR / "templates" / "index.html").read_text())


def test_the_image_installs_the_chart_from_the_lock_file_where_the_settings_look():
    dockerfile = (PROJECT_DIR / "Dockerfile").read_text()
    assert "COPY package.json package-lock.json ./" in dockerfile
    assert "npm ci --omit=dev" in dockerfile  # the chart only; axe-core is for the tests
    assert "COPY --from=assets /assets/node_modules/lightweight-charts node_modules/lightweight-charts" in dockerfile
    assert dockerfile.index("COPY --from=assets") < dockerfile.index("collectstatic")
    assert "node_modules" in (PROJECT_DIR / ".dockerignore").read_text().split()
