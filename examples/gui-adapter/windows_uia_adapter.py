"""An adapter (harness/ADAPTER.md) that drives a Windows GUI application
through UI Automation, so that `kazasu run --client` can test software that
has no command line: it reads one check's KAZASU_* inputs, does at the
application's window what the staff would do, reads the result screen, and
prints one ClientOutcome as JSON.

UNTESTED ON WINDOWS: this project has no Windows machine; the script is
checked here only for syntax and for its pure parts (`python3
windows_uia_adapter.py --self-test`). It is a template: every application
names its controls differently, and `controls.example.json` says which
control is which. See docs/gui-automation.md.

Requirements on the Windows machine: Python 3.9+, `pip install pywinauto`,
the application installed, and the virtual card served to the machine's
reader (docs/remote-readers.md).

The PIN arrives in KAZASU_PIN and is typed into the application; it is
never printed, logged or written anywhere by this script.
"""

import json
import os
import sys
import time


def env(name, default=None):
    value = os.environ.get(name, "")
    return value if value != "" else default


def inputs():
    """One check's inputs, as the contract gives them."""
    return {
        "reader": env("KAZASU_READER", "Virtual PCD 00 00"),
        "service_url": env("KAZASU_SERVICE_URL", "http://127.0.0.1:8787"),
        "facility": env("KAZASU_FACILITY", "0110000001"),
        "method": env("KAZASU_METHOD"),
        "pin": env("KAZASU_PIN"),
        "consent": env("KAZASU_CONSENT", "0") == "1",
        "card_has_photo": env("KAZASU_CARD_HAS_PHOTO", "1") == "1",
        "timeout_ms": int(env("KAZASU_TIMEOUT_MS", "10000")),
    }


def outcome_from_screen(texts, mapping):
    """The ClientOutcome for what the result screen shows.

    `texts` maps each result control's name (from the controls file) to the
    text the screen shows in it; `mapping["outcomes"]` lists, in order, a
    substring of the headline and the outcome it means. Pure: no UI here.
    """
    headline = texts.get("headline", "")
    kind = None
    for rule in mapping["outcomes"]:
        if rule["headline_contains"] in headline:
            kind = rule["outcome"]
            break
    if kind is None:
        # The screen said something the mapping does not know: report it
        # as the card error it most likely is, with the text, so the
        # scenario's failure shows what was on the screen.
        kind = "card-error"
    outcome = {"outcome": kind, "message": headline}
    validity = mapping.get("validity_labels", {}).get(texts.get("validity", ""))
    if validity:
        outcome["validity"] = validity
    code = texts.get("code", "").strip()
    if code:
        outcome["processing_result_code"] = code
    banners = [line.strip() for line in texts.get("banners", "").splitlines() if line.strip()]
    if banners:
        outcome["banners"] = banners
    tries = "".join(ch for ch in texts.get("tries_left", "") if ch.isdigit())
    if tries:
        outcome["tries_left"] = int(tries)
    fields = {
        name: texts[control]
        for name, control in mapping.get("fields", {}).items()
        if texts.get(control)
    }
    if fields:
        # A flat result: the runner finds a bare field name at any depth.
        outcome["result"] = {"ResultList": [{"ResultOfQualificationConfirmation": fields}]}
    return outcome


def drive(app_inputs, controls):
    """Does one check at the application's window; returns the screen's texts."""
    from pywinauto import Application  # Windows only
    from pywinauto.timings import TimeoutError as UiaTimeout

    window_spec = controls["window"]
    app = Application(backend="uia").connect(title_re=window_spec["title_re"], timeout=20)
    window = app.window(title_re=window_spec["title_re"])
    window.set_focus()

    def control(name):
        spec = controls["controls"][name]
        return window.child_window(**spec)

    # Back to the start screen, whatever the last check left.
    if "home" in controls["controls"]:
        control("home").click_input()
    control("method_" + app_inputs["method"]).click_input()
    if not app_inputs["card_has_photo"] and "no_photo" in controls["controls"]:
        control("no_photo").click_input()
    control("start").click_input()
    if app_inputs["pin"] is not None and app_inputs["method"] in ("pin", "android"):
        pin_box = control("pin")
        pin_box.wait("visible enabled", timeout=20)
        # Into the control directly; an application that listens to key
        # events only needs pin_box.type_keys(...) instead.
        pin_box.set_edit_text(app_inputs["pin"])
        control("pin_ok").click_input()
    if "consent_yes" in controls["controls"]:
        question = control("consent_yes" if app_inputs["consent"] else "consent_no")
        try:
            question.wait("visible", timeout=3)
            question.click_input()
        except UiaTimeout:
            pass  # the application did not ask
    # The result screen: wait for its headline, then read every result control.
    wait_s = app_inputs["timeout_ms"] / 1000 + 30
    control("headline").wait("visible", timeout=wait_s)
    texts = {}
    for name in controls["result_controls"]:
        try:
            texts[name] = control(name).window_text()
        except Exception:  # absent on this screen: nothing shown
            texts[name] = ""
    return texts


def self_test():
    with open(os.path.join(os.path.dirname(__file__), "controls.example.json"), encoding="utf-8") as f:
        mapping = json.load(f)
    wrong = outcome_from_screen({"headline": "暗証番号が違います", "tries_left": "残り2回"}, mapping)
    assert wrong == {"outcome": "wrong-pin", "message": "暗証番号が違います", "tries_left": 2}, wrong
    ok = outcome_from_screen(
        {"headline": "資格が確認できました", "validity": "有効", "insurer": "06139990",
         "banners": "3か月以内に証明書が失効します\n"},
        mapping,
    )
    assert ok["outcome"] == "confirmed" and ok["validity"] == "1", ok
    assert ok["banners"] == ["3か月以内に証明書が失効します"], ok
    assert ok["result"]["ResultList"][0]["ResultOfQualificationConfirmation"]["InsurerNumber"] == "06139990"
    unknown = outcome_from_screen({"headline": "???"}, mapping)
    assert unknown["outcome"] == "card-error"
    print("self-test: ok")


def main():
    if "--self-test" in sys.argv:
        self_test()
        return 0
    if "--env-stdin" in sys.argv:
        # KAZASU_* as NAME=VALUE lines on stdin (over-ssh.sh): the PIN is
        # not on a command line, where other users' process lists see it.
        for line in sys.stdin.read().splitlines():
            name, _, value = line.partition("=")
            if name.startswith("KAZASU_"):
                os.environ[name] = value
    here = os.path.dirname(os.path.abspath(__file__))
    controls_path = env("KAZASU_GUI_CONTROLS", os.path.join(here, "controls.example.json"))
    with open(controls_path, encoding="utf-8") as f:
        controls = json.load(f)
    app_inputs = inputs()
    if app_inputs["method"] is None:
        print("KAZASU_METHOD is required", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        texts = drive(app_inputs, controls)
    except Exception as e:  # the application could not be driven at all
        print(f"could not drive the application: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"screen read in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(json.dumps(outcome_from_screen(texts, controls), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
