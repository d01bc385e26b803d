"""The Dagster UI in a real browser: Debian's headless Chromium, driven by Playwright, against a real
`dagster-webserver` on the project's workspace. What the UI lists is compared with the Definitions
the code location builds, so a renamed asset or a check that fails to load shows up here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ml_assets_tests.conftest import PROJECT_ROOT, VENV_BIN, free_port, start_logged, stop_process

pytestmark = [pytest.mark.browser, pytest.mark.webserver]
CHROMIUM = os.environ.get("ML_ASSETS_TEST_CHROMIUM", "/usr/bin/chromium")
# Flags for this machine kind (see the README): no sandbox as root, and no background
# connections, which the closed network refuses many at a time.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots are kept here after the run (CI keeps the checkout's folder).
ARTIFACTS = Path(os.environ.get("ML_ASSETS_TEST_ARTIFACTS", PROJECT_ROOT / "test-artifacts"))


@pytest.fixture
def webserver(home, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    port = free_port()
    proc = start_logged(
        [VENV_BIN / "dagster-webserver", "-w", PROJECT_ROOT / "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env,
        tmp_path / "webserver.log",
        port=port,
        timeout=120,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def _lines(page) -> set[str]:
    return {line.strip() for line in page.inner_text("body").split("\n")}


def _dismiss_welcome(page) -> None:
    """A fresh instance greets the first visit with a 'Join the Dagster community' dialog."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5000)
    except Exception:
        return
    skip.click()


def test_ui_lists_assets_checks_sensors_and_schedules(webserver):
    from playwright.sync_api import expect, sync_playwright

    from ml_assets.definitions import defs

    repo = defs().get_repository_def()
    assets = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    checks: dict[str, set[str]] = {}
    for key in repo.asset_graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    sensors = {s.name for s in repo.sensor_defs}
    schedules = {s.name for s in repo.schedule_defs}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            # The asset graph, every group expanded (the graph menu's "Expand all groups", Alt+E).
            page.goto(f"{webserver}/asset-groups", wait_until="networkidle")
            _dismiss_welcome(page)
            expect(page.get_by_text("Global asset lineage")).to_be_visible(timeout=30000)
            page.keyboard.press("Alt+e")
            # The graph labels an asset by its name within its model, and shows each model's groups.
            names = {a.rsplit("/", 1)[-1] for a in assets}
            groups = {repo.asset_graph.get(k).group_name for k in repo.asset_graph.get_all_asset_keys()}
            for text in sorted(names | groups):
                expect(page.get_by_text(text, exact=True).first).to_be_visible(timeout=30000)
            page.screenshot(path=str(ARTIFACTS / "ui-asset-graph.png"))
            assert names <= _lines(page)
            # The catalog lists every key, model first.
            page.set_viewport_size({"width": 1600, "height": 4000})
            page.goto(f"{webserver}/assets", wait_until="networkidle")
            for asset in sorted(assets):
                expect(page.get_by_text(asset.replace("/", " / "), exact=True).first).to_be_visible(timeout=30000)
            page.set_viewport_size({"width": 1600, "height": 1000})

            # Each asset's checks tab lists its checks.
            for asset, names in sorted(checks.items()):
                page.goto(f"{webserver}/assets/{asset}?view=checks", wait_until="networkidle")
                expect(page.get_by_text(f"Checks ({len(names)})")).to_be_visible(timeout=30000)
                assert names <= _lines(page), f"{asset}: UI lists {_lines(page) & names}, expected {names}"
            page.screenshot(path=str(ARTIFACTS / "ui-checks.png"))

            # Sensors and schedules, on the Automation page.
            page.goto(f"{webserver}/automation", wait_until="networkidle")
            for name in sorted(sensors | schedules):
                expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=30000)
            page.screenshot(path=str(ARTIFACTS / "ui-automation.png"))
        finally:
            browser.close()
    models = {"demo_churn", "breast_cancer", "diabetes"}
    assert sensors == {
        "landing_sensor",
        "demo_churn__labels_sensor",
        "automation_condition_sensor",
        "run_failure_alert_sensor",
        "dead_run_sensor",
    }
    assert schedules == {
        f"{m}__{s}" for m in models for s in ("retraining_schedule", "scoring_schedule", "retention_schedule")
    }
    assert (ARTIFACTS / "ui-asset-graph.png").stat().st_size > 10_000
