"""Swahili on the evidence, alerts, admin, node, submissions, firmware, raw-channel and home pages (issue 17 item 5).

Users whose language is "sw" open each page (the Dash pages callback, as the browser does) and
call its main callbacks through /_dash-update-component; each answer holds Swahili texts from the
catalog and none of the English originals they replace. Month names come from Babel's CLDR data
(an independent source), not from the code under test.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from web_helpers import NOW, _outputs, client_as, module_web_app, post_callback

import core.accounts.auth as auth
from core.accounts.users import set_language
from core.evidence.declarations import add_declaration
from core.fleet import ota
from core.fleet.commands import send_command
from core.measurement.calibration import record_check
from core.models import Alert, User
from core.timeutil import DEFAULT_TZ, add_months, local_date, month_start, utcnow


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    for app, Session, fx in module_web_app(tmp_path_factory, "i18nh2"):  # noqa: N806
        with Session() as s:
            users = {u.username: u for u in s.scalars(sa.select(User))}
            for name in ("admin", "hq", "kagwe", "auditor"):
                set_language(s, users[name].id, "sw")
            kgw = fx.factory_ids["KGW"]
            s.add_all([
                Alert(rule="node_offline", key="node_offline:KGW-S1", factory_id=kgw, audience="factory",
                      title="Node KGW-S1 at Kagwe (KGW) is offline", state="firing",
                      detail="Last heard 2026-11-27 08:00 UTC; its readings are buffered on the node until it "
                             "reconnects."),
                Alert(rule="energy_overdue", key="energy_overdue:x", factory_id=kgw, audience="factory",
                      title="October 2026 energy data for Kagwe (KGW) is overdue", state="firing",
                      detail="It was due by 10 November 2026. Enter and submit it on the Energy entry page."),
            ])
            add_declaration(s, users["hq"], kgw, "firewood", "Green Woods Ltd", "RED II", "GW-1",
                            date(2026, 1, 1), date(2026, 12, 31))
            s.commit()
            send_command(s, users["admin"], "KGW-S1", "reboot")
            record_check(s, users["hq"], "KGW-S1", "span", 1000, 1005, 2000, checked_at="2026-11-20 10:00")
            s.commit()
            image_bytes = bytes([0xE9]) + b"fw-h2" * 100
            image = ota.store_image(s, users["admin"], app.server.config["CT_CONFIG"].data_dir, "3.1.0", image_bytes,
                                    hashlib.sha256(image_bytes).hexdigest())
            ota.create_campaign(s, users["admin"], image.id, "factory", "KGW")
        yield app, Session, fx


@pytest.fixture(autouse=True)
def _no_delay(monkeypatch):
    monkeypatch.setattr(auth, "FAILURE_DELAY_S", 0.0)
    auth.IP_THROTTLE.reset()


def text_of(resp) -> str:  # noqa: ANN001
    """The callback's answer as text, non-ASCII kept (Swahili has none, but dashes and symbols do)."""
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return json.dumps(resp.get_json(), ensure_ascii=False)


def page(client, app, path: str, search: str = "") -> str:  # noqa: ANN001
    """A page's layout as the Dash pages callback returns it for this signed-in client."""
    key = next(k for k in app.callback_map if "_pages_content.children" in k)
    cb = app.callback_map[key]
    values = {"pathname": path, "search": search}
    inputs = [{"id": i["id"], "property": i["property"], "value": values.get(i["property"])} for i in cb["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": None} for s in cb.get("state", [])]
    return text_of(client.post("/_dash-update-component", json={
        "output": key, "outputs": _outputs(key), "inputs": inputs, "state": state,
        "changedPropIds": ["_pages_location.pathname"]}))


def both_ways(text: str, swahili: list[str], english: list[str]) -> None:
    """Every Swahili text is there and none of the English originals it replaces."""
    missing = [w for w in swahili if w not in text]
    left = [w for w in english if w in text]
    assert not missing and not left, f"missing Swahili: {missing}; English left: {left}"


def sw_month(day: date, pattern: str = "MMMM y") -> str:
    return format_date(day, pattern, locale="sw_KE")


def test_evidence_page_in_swahili(web):
    app, _, _ = web
    hq = client_as(app, "hq")
    body = page(hq, app, "/evidence")
    both_ways(body, ["Ushahidi · Carbon Track", "Tamko la uendelevu la msambazaji (biomasi)", "Rekodi tamko", "msambazaji",
                     "Rekodi NCV ya maabara", "Matamko ya uendelevu ya wasambazaji", "Msambazaji", "Uhalali",
                     "halali", "2026-01-01 hadi 2026-12-31", "Kuni", "Bado hakuna faili za ushahidi.",
                     "Tafuta matamko"],
              ["Evidence · Carbon Track", "Supplier sustainability declaration", "Record declaration", '"Supplier"', '"Validity"',
               '"status": "valid"', "2026-01-01 to 2026-12-31", "No evidence files yet.", "Search declarations"])
    assert '"status__tone": "valid"' in body  # the grid colours the badge by the English word
    kagwe = client_as(app, "kagwe")
    body = page(kagwe, app, "/evidence")
    # The upload panel: month names in Swahili (CLDR), energy sources by their Swahili labels.
    both_ways(body, ["Ambatisha faili kwenye data ya nishati ya mwezi", sw_month(date(2026, 10, 1)), "Umeme wa gridi",
                     "chanzo cha nishati"],
              ["Attach a file", "October 2026", '"label": "grid_electricity"', "energy source"])
    # A refusal made in core, shown through the catalog.
    resp = post_callback(hq, app, "evidence-declare-status", [
        {"id": "evidence-declare", "property": "n_clicks", "value": 1}], [
        {"id": "evidence-factory", "property": "value", "value": 1},
        {"id": "evidence-decl-source", "property": "value", "value": "diesel"},
        {"id": "evidence-decl-supplier", "property": "value", "value": "x"},
        {"id": "evidence-decl-scheme", "property": "value", "value": "x"},
        {"id": "evidence-decl-reference", "property": "value", "value": "x"},
        {"id": "evidence-decl-from", "property": "date", "value": "2026-01-01"},
        {"id": "evidence-decl-to", "property": "date", "value": "2026-02-01"}])
    both_ways(text_of(resp), ["tamko linahusu mafuta ya biomasi: mojawapo ya"], ["a declaration covers a biomass fuel"])


def test_alerts_page_and_list_in_swahili(web):
    app, _, _ = web
    kagwe = client_as(app, "kagwe")
    both_ways(page(kagwe, app, "/alerts"),
              ["Tahadhari", "Jinsi unavyoarifiwa", "Onyesha zilizotatuliwa", "Hifadhi", "bila barua pepe",
               "Vikumbusho vya data ya nishati vilivyotumwa", "Tafuta tahadhari"],
              ["How you are told", "Show resolved", '"Save"', "no email", "Energy-data reminders sent", "Search alerts"])
    body = text_of(post_callback(kagwe, app, "alerts-list", [
        {"id": "alerts-interval", "property": "n_intervals", "value": 0},
        {"id": "alerts-show-resolved", "property": "value", "value": []},
        {"id": "alerts-ack-feedback", "property": "children", "value": None}]))
    both_ways(body, ["Kitambuzi KGW-S1 katika Kagwe (KGW) kiko nje ya mtandao",
                     f"Data ya nishati ya {sw_month(date(2026, 10, 1))} ya Kagwe (KGW) imechelewa",
                     f"Ilitakiwa kufikia 10 {sw_month(date(2026, 11, 1))}.", "inawaka", "Kubali", "Zinazowaka"],
              ["is offline", "energy data for", "October 2026", "November", '"state": "firing"', '"Acknowledge"',
               "Firing"])
    assert '"state__tone": "firing"' in body
    bad = text_of(post_callback(kagwe, app, "alerts-save-feedback", [
        {"id": "alerts-save", "property": "n_clicks", "value": 1}], [
        {"id": "alerts-email", "property": "value", "value": "not-an-email"},
        {"id": "alerts-phone", "property": "value", "value": None},
        {"id": "alerts-optout", "property": "value", "value": []},
        {"id": "alerts-quiet-from", "property": "value", "value": None},
        {"id": "alerts-quiet-to", "property": "value", "value": None}]))
    both_ways(bad, ["barua pepe: anwani kama jina@ktda.co.ke"], ["an address like"])


def test_admin_page_tables_and_messages_in_swahili(web):
    app, _, _ = web
    admin = client_as(app, "admin")
    both_ways(page(admin, app, "/admin"),
              ["Jina kamili", "Jukumu", "meneja wa kiwanda", "Kipenyo (m)", "mbichi", "Kitambuzi",
               "Hamishia bomba jingine la moshi", "Staafisha", "Sababu"],
              ["Full name", '"Role"', '"factory manager"', "Diameter (m)", '"label": "wet"', "Move to another stack",
               '"Retire"', '"Reason"'])
    tables = text_of(post_callback(admin, app, "admin-user-table", [
        {"id": "admin-changed", "property": "data", "value": 0}]))
    both_ways(tables, ["Jina la mtumiaji", "Kuingia kwa mwisho (EAT)", "ndiyo", "Kaunti", "Msongamano wa kuni (kg/m³)",
                       "Unyevu wa moshi", "Sehemu ya biomasi", "Iliongezwa (EAT)", '"role": "meneja wa kiwanda"',
                       "Tafuta watumiaji", "Tafuta mabomba ya moshi", "Tafuta vipengele vya uzalishaji wa hewa chafu",
                       '"basis": "mbichi"'],
              ['"headerName": "Username"', "Last sign-in", '"active": "yes"', '"headerName": "County"', "Flue moisture",
               "Biomass share", "Added (EAT)", '"role": "factory_manager"', "Search users", "Search stacks",
               "Export CSV", '"basis": "wet"'])
    # A refusal from core (no username), and a node form error placed at its field.
    keys = [k for k in app.callback_map if "admin-user-result." in k]
    cb = app.callback_map[keys[0]]
    inputs = [{"id": i["id"], "property": i["property"], "value": 1 if i["id"] == "admin-user-create" else None}
              for i in cb["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": "factory_manager" if s["id"] == "admin-user-new-role"
              else None} for s in cb["state"]]
    resp = admin.post("/_dash-update-component", json={"output": keys[0], "outputs": _outputs(keys[0]),
                                                        "inputs": inputs, "state": state,
                                                        "changedPropIds": ["admin-user-create.n_clicks"]})
    both_ways(text_of(resp), ["Jina la mtumiaji: inahitajika."], ["Username: required."])
    keys = [k for k in app.callback_map if "admin-node-result." in k]
    cb = app.callback_map[keys[0]]
    inputs = [{"id": i["id"], "property": i["property"], "value": 1 if i["id"] == "admin-device-add" else None}
              for i in cb["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": None} for s in cb["state"]]
    resp = admin.post("/_dash-update-component", json={"output": keys[0], "outputs": _outputs(keys[0]),
                                                        "inputs": inputs, "state": state,
                                                        "changedPropIds": ["admin-device-add.n_clicks"]})
    both_ways(text_of(resp), ["Bomba la moshi: chagua bomba la moshi la kitambuzi.", "Haijabadilishwa"],
              ["pick the node's stack", "Not changed"])


def test_node_page_in_swahili(web):
    app, _, _ = web
    hq = client_as(app, "hq")
    body = page(hq, app, "/hq/node", "?device=KGW-S1")
    both_ways(body, ["Kitambuzi KGW-S1", "Ubora wa data iliyopimwa", "Kosa la urekebishaji", "Gesi ya rejea (ppm)",
                     "upana", "sifuri"],
              ["Node KGW-S1", "Measured-data quality", "Calibration error =", "Reference gas (ppm)", '"label": "zero"'])
    admin = client_as(app, "admin")
    # The command grid's headers are in the page's layout (the refresh sends rows only).
    both_ways(page(admin, app, "/hq/node", "?device=KGW-S1"),
              ["Weka muda kati ya sampuli", "Washa upya", "thamani (ikiwa amri inahitaji)", "baiti", "Hoja", "Jibu",
               "Tafuta amri"],
              ["Set sampling interval", '"Reboot"', "value (if the command takes one)", " bytes", "Arguments",
               '"Answer"', "Search commands"])
    info = text_of(post_callback(hq, app, "hq-node-info", [
        {"id": "hq-node-interval", "property": "n_intervals", "value": 0},
        {"id": "hq-node-device", "property": "data", "value": "KGW-S1"}],
        [{"id": "hq-node-command-table", "property": "rowData", "value": None}]))
    both_ways(info, ["Ilionekana mwisho", "Mawimbi", "Washa upya", "iko foleni"],
              ["Last seen", "Signal", '"Reboot"', '"state": "queued"'])  # "state__tone": "queued" is its colour
    quality = text_of(post_callback(hq, app, "hq-node-quality", [
        {"id": "hq-node-device", "property": "data", "value": "KGW-S1"},
        {"id": "hq-node-cal-saved", "property": "data", "value": 0}]))
    both_ways(quality, ["Upatikanaji wa data (siku 30, 40 CFR 75.32)", "Ukaguzi wa mwisho uliofaulu", "imefaulu",
                        "tovuti", "Rejea (ppm)", "Matokeo"],
              ["Data availability (30 d", "Last passed check", '"pass"', '"portal"', "Reference (ppm)", '"Result"'])
    keys = [k for k in app.callback_map if "hq-node-cal-feedback." in k]
    cb = app.callback_map[keys[0]]
    inputs = [{"id": i["id"], "property": i["property"], "value": 1} for i in cb["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": "KGW-S1" if s["id"] == "hq-node-device" else None}
             for s in cb["state"]]
    resp = hq.post("/_dash-update-component", json={"output": keys[0], "outputs": _outputs(keys[0]), "inputs": inputs,
                                                     "state": state, "changedPropIds": ["hq-node-cal-save.n_clicks"]})
    both_ways(text_of(resp), ["Haijarekodiwa: sahihisha sehemu iliyowekwa alama hapa chini.", "Aina:"],
              ["Not recorded", "Kind:"])


def test_submissions_grid_in_swahili(web):
    app, _, _ = web
    hq = client_as(app, "hq")
    body = text_of(post_callback(hq, app, "hq-submissions-table", [
        {"id": "hq-submissions-months", "property": "value", "value": "12"}]))
    # The grid ends with the current local month (real clock); its data is due by the 10th of the next one.
    this = month_start(local_date(utcnow(), DEFAULT_TZ))
    due_day = f"10 {sw_month(add_months(this, 1), 'MMM')}"
    key = f"m{this:%Y_%m}"
    both_ways(body, [f"{sw_month(this, 'MMM y')} · mwisho {due_day}", f'"{key}": "bado haijafika"',
                     f"{sw_month(add_months(this, -1))}: ", "Kanda 1", "Tafuta viwanda", "Kwa kuchelewa au muda umepita"],
              [f"{this:%b %Y} · due", f'"{key}": "not yet due"', f"{add_months(this, -1):%B %Y}:", "Region 1",
               "Search factories"])
    assert f'"{key}__tone": "not"' in body  # the grid colours the cell by the English word
    # The fixture's months (relative to its own clock): submitted the month before, approved three back.
    fixture_month = month_start(local_date(NOW, DEFAULT_TZ))
    for back, word, english in ((1, "imewasilishwa", "submitted"), (3, "imeidhinishwa", "approved")):
        m = add_months(fixture_month, -back)
        if add_months(this, -11) <= m:  # still inside the twelve months shown
            assert f'"m{m:%Y_%m}": "{word}' in body and f'"m{m:%Y_%m}": "{english}' not in body


def test_firmware_page_in_swahili(web):
    app, _, _ = web
    admin = client_as(app, "admin")
    # The campaign-node and inventory grids are in the layout (their headers and search boxes); the
    # refresh callback fills their rows.
    both_ways(page(admin, app, "/hq/firmware"),
              ["toleo, mf. 1.2.0", "namba ya kitambuzi, msimbo wa kiwanda au kanda", "% ya majaribio (si lazima)",
               '"headerName": "Kitambuzi"', '"headerName": "Kampeni"', '"headerName": "Tangu (EAT)"',
               "Vitambuzi katika kampeni", "Tafuta vitambuzi vya kampeni", "Tafuta katika orodha", "Safu kwa ukurasa"],
              ["version, e.g.", "node id, factory code or region", "canary % (optional)", '"Node"', '"Campaign"',
               "Since (EAT)", "Nodes in the campaigns", "Search campaign nodes", "Search the inventory", "Export CSV"])
    body = text_of(post_callback(admin, app, "ota-campaigns", [
        {"id": "ota-interval", "property": "n_intervals", "value": 0},
        {"id": "ota-action-feedback", "property": "children", "value": None}]))
    both_ways(body, ["#1 programu dhibiti 3.1.0", "kiwanda KGW", "inaendelea", "Simamisha", "Sitisha",
                     '"state": "inasubiri"'],
              ["firmware 3.1.0", "factory KGW", "running", '"Pause"', '"Abort"', '"state": "pending"'])
    assert '"state__tone": "pending"' in body  # the colour keyed on the English state, the words in Swahili


def test_raw_channels_in_swahili(web):
    app, _, fx = web
    kagwe = client_as(app, "kagwe")
    both_ways(page(kagwe, app, "/factory/raw"), ["Vipimo ghafi", "Tarehe (siku za hapa)", "Tarehe ya kuanza",
                                                 "Tarehe ya mwisho"], ["Raw channels", "Dates"])
    day = NOW.date().isoformat()
    body = text_of(post_callback(kagwe, app, "raw-channels-graph", [
        {"id": "raw-channels-factory", "property": "value", "value": fx.factory_ids["KGW"]},
        {"id": "raw-channels-range", "property": "start_date", "value": day},
        {"id": "raw-channels-range", "property": "end_date", "value": day}]))
    both_ways(body, ["gesi ya moshi (°C)", "kasi (m/s)", "saa za hapa (EAT)", "KGW-S1: vipimo 60",
                     f"28 {sw_month(date(2026, 11, 1), 'MMMM')} 2026 – 28", "kila kipimo"],
              ["flue gas (°C)", "velocity (m/s)", "local time (EAT)", "60 readings", "28 Nov 2026", "every reading"])


def test_home_and_range_pickers_in_swahili(web):
    app, _, _ = web
    hq = client_as(app, "hq")
    both_ways(page(hq, app, "/"), ["Anza katika /hq.", "Muhtasari", "Mawasilisho"], ["Start at", '"Overview"'])
    both_ways(page(hq, app, "/hq"), ["Kuanzia mwezi", "Hadi mwezi"], ["From month", "To month"])


def test_english_users_still_read_english(web):
    app, _, _ = web
    mataara = client_as(app, "mataara")  # no language chosen, no cookie, no Accept-Language: English
    body = page(mataara, app, "/alerts")
    assert "How you are told" in body and "Jinsi unavyoarifiwa" not in body
