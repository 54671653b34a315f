"""Take the portal's screenshots (docs/screenshots/*.png) on the demo data, in headless Chromium.

Loads the demo into a fresh SQLite database in a temporary directory (as `make run` does), serves
the app on 127.0.0.1, signs in as the demo users and saves each key page at a desktop width
(1,440 px) and a phone width (390 px), in English and in Swahili. Run it again after a change to
the pages; nothing is kept but the PNG files.

    .venv/bin/python docs/screenshots/take_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.bench_pages import browser, serve, sign_in, visit  # noqa: E402
from carbontrack.bootstrap import init_database  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import open_database  # noqa: E402

# (file name, user, path, widths, languages)
SHOTS = (
    ("hq-overview", "hq", "/hq", (1440, 390), ("en", "sw")),
    ("hq-leaderboard", "hq", "/hq/leaderboard", (1440, 390), ("en",)),
    ("hq-submissions", "hq", "/hq/submissions", (1440,), ("en",)),
    ("hq-nodes", "hq", "/hq/nodes", (1440,), ("en",)),
    ("factory-live", "kagwe", "/factory/live", (1440, 390), ("en", "sw")),
    ("factory-entry", "kagwe", "/factory/entry", (1440, 390), ("en", "sw")),
    ("factory-history", "kagwe", "/factory/history", (1440, 390), ("en", "sw")),
    ("factory-raw", "kagwe", "/factory/raw", (1440,), ("en",)),
    ("reports", "hq", "/reports", (1440,), ("en", "sw")),
    ("alerts", "hq", "/alerts", (1440,), ("en",)),
)


def set_language(driver, base: str, language: str) -> None:  # noqa: ANN001
    """Use the navbar's language switch (kept on the user), if the page is not in that language yet."""
    from selenium.webdriver.common.by import By

    # At a phone width the navbar is folded away and the switch cannot be clicked.
    driver.set_window_size(1440, 1000)
    driver.get(base + "/account/api-tokens")
    if driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language:
        return
    driver.find_element(By.ID, f"nav-lang-{language}").click()
    time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    from app import create_app

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        cfg = Config(database_url=url, data_dir=Path(tmp), secret_key="shots-" + "x" * 26, embedded=True)
        print("loading demo data:", init_database(cfg, demo=True), flush=True)
        engine, Session = open_database(url)  # noqa: N806
        base, server = serve(create_app(cfg, Session))
        try:
            for user in dict.fromkeys(shot[1] for shot in SHOTS):
                driver = browser()
                try:
                    sign_in(driver, base, user)
                    for language in ("en", "sw"):
                        shots = [s for s in SHOTS if s[1] == user and language in s[4]]
                        if not shots:
                            continue
                        set_language(driver, base, language)
                        for name, _user, path, widths, _languages in shots:
                            for width in widths:
                                driver.set_window_size(width, 1000)
                                visit(driver, base + path)
                                time.sleep(0.5)  # charts finish their transitions
                                height = driver.execute_script("return document.documentElement.scrollHeight")
                                driver.set_window_size(width, min(max(height, 800), 4000))
                                time.sleep(0.3)
                                target = args.out / f"{name}-{width}-{language}.png"
                                driver.save_screenshot(str(target))
                                print("saved", target.relative_to(ROOT), flush=True)
                    set_language(driver, base, "en")
                finally:
                    driver.quit()
        finally:
            server.shutdown()
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
