"""A simulated node that answers commands and plays the firmware's OTA states (tests and demos).

It speaks the firmware's command protocol (docs/firmware.md): it listens on its `cmd` topic,
answers each command on `cmd/result` with `{"id", "ok", "detail"}` (contract v1.1), and for
`ota` it downloads the image from the URL, checks its SHA-256 like the firmware does, answers,
"reboots" into the new version (a telemetry message with the new `fw`, which confirms the trial
boot) — or, with `ota_behaviour="rollback"`, comes back with the old version, as a node whose
new image failed to confirm three times does. Plain `http://` URLs are accepted here (the real
firmware requires https://) so tests can serve images from a local test server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.request
import uuid
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger("mqtt_listener.sim_fleet_ops")

SETTABLE_KEYS = ("interval_s", "sample_s", "profile_factor", "pitot_cp", "moisture", "altitude_m", "max_payload")


class SimFleetNode:
    """One simulated node on a real broker: answers commands, plays OTA."""

    def __init__(self, host: str, port: int, prefix: str, factory_code: str, device_id: str, fw: str = "1.0.0",
                 *, respond: bool = True, ota_behaviour: str = "confirm", calibration_ok: bool = True) -> None:
        self.prefix, self.factory_code, self.device_id = prefix, factory_code, device_id
        self.fw = fw
        self.respond = respond
        self.ota_behaviour = ota_behaviour  # confirm / rollback / bad_hash (answer ok=false)
        self.calibration_ok = calibration_ok
        self.settings: dict[str, float] = {}
        self.received: list[dict[str, Any]] = []
        self.seq = 1
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{device_id}-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv311)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a, **_k: self.ready.set()
        self.host, self.port = host, port

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.factory_code}/{self.device_id}"

    def start(self, timeout_s: float = 10.0) -> SimFleetNode:
        """Connect, subscribe to the command topic and wait until subscribed."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.ready.wait(timeout_s):
            raise TimeoutError(f"simulated node {self.device_id} did not subscribe")
        return self

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _u, _f, reason_code, _p=None) -> None:  # noqa: ANN001
        client.subscribe(f"{self.base}/cmd", qos=1)

    def _on_message(self, _c, _u, msg) -> None:  # noqa: ANN001
        try:
            cmd = json.loads(msg.payload)
        except ValueError:
            return
        self.received.append(cmd)
        if not self.respond:
            return
        # Long work (a download) off paho's network thread, as the firmware does in its loop.
        threading.Thread(target=self._handle, args=(cmd,), daemon=True).start()

    def answer(self, command_id: str | None, ok: bool, detail: str) -> None:
        """Publish a result on cmd/result."""
        self.client.publish(f"{self.base}/cmd/result", json.dumps({"id": command_id, "ok": ok, "detail": detail}), qos=1)

    def telemetry(self) -> dict[str, Any]:
        """One valid telemetry payload (contract v1.1) with the running firmware version."""
        self.seq += 1
        return {"device_id": self.device_id, "fw": self.fw, "rssi": -60, "uptime_s": 5, "buffered": 0,
                "interval_s": 60,
                "readings": [{"seq": self.seq, "ts": round(time.time(), 1), "co2_ppm": 80000.0, "flue_temp_c": 180.0,
                              "velocity_m_s": 8.0, "pressure_pa": 79650.0, "flags": 0}]}

    def publish_telemetry(self) -> None:
        """Publish one telemetry message (as after a boot)."""
        self.client.publish(f"{self.base}/telemetry", json.dumps(self.telemetry()), qos=1).wait_for_publish(5)

    def _handle(self, cmd: dict[str, Any]) -> None:
        cid, name = cmd.get("id"), cmd.get("cmd")
        if name == "set":
            key, value = cmd.get("key"), cmd.get("value")
            if key not in SETTABLE_KEYS or not isinstance(value, int | float):
                self.answer(cid, False, "set: key not settable remotely")
                return
            self.settings[key] = value
            self.answer(cid, True, f"{key}={value} stored; applied at the next reboot")
        elif name == "reboot":
            self.answer(cid, True, "rebooting")
        elif name == "status":
            self.answer(cid, True, json.dumps({"fw": self.fw, "free_heap": 123456, "buffered": 0}))
        elif name == "calibrate":
            kind = cmd.get("kind")
            if self.calibration_ok:
                self.answer(cid, True, f"{kind} calibration done")
            else:
                self.answer(cid, False, f"{kind} calibration failed: reading drifted 4.2 % from the reference")
        elif name == "ota":
            self._ota(cmd)
        else:
            self.answer(cid, False, f'unknown cmd "{name}"')

    def _ota(self, cmd: dict[str, Any]) -> None:
        cid, url, sha, version = cmd.get("id"), cmd.get("url", ""), cmd.get("sha256", ""), cmd.get("version")
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - test URLs only
                image = resp.read()
        except Exception as exc:
            self.answer(cid, False, f"download failed: {exc}")
            return
        got = hashlib.sha256(image).hexdigest()
        if got != str(sha).lower() or self.ota_behaviour == "bad_hash":
            self.answer(cid, False, "sha256 mismatch: image not installed")
            return
        self.answer(cid, True, f"image {version} written, rebooting into trial boot")
        time.sleep(0.3)
        if self.ota_behaviour == "confirm":
            self.fw = str(version)
        # rollback: the new image never confirmed; the previous one boots and reports its version
        self.publish_telemetry()


class SimCommandResponder:
    """Answers commands for every simulated node of the demo fleet (one client on `<prefix>/+/+/cmd`).

    The demo's telemetry comes from `mqtt_listener.simulator`; this only answers commands so the
    node page shows results. It declines OTA: the demo's simulated telemetry cannot change version
    (`SimFleetNode` plays OTA in tests).
    """

    def __init__(self, host: str, port: int, prefix: str, username: str | None = None,
                 password: str | None = None) -> None:
        self.prefix = prefix
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-cmd-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv311)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, *_a, **_k: c.subscribe(f"{prefix}/+/+/cmd", qos=1)
        self.client.on_message = self._on_message
        self.host, self.port = host, port

    def start(self) -> SimCommandResponder:
        """Connect in the background."""
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _c, _u, msg) -> None:  # noqa: ANN001
        try:
            cmd = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(cmd, dict):
            return
        cid, name = cmd.get("id"), cmd.get("cmd")
        answers = {"set": (True, f"{cmd.get('key')}={cmd.get('value')} stored; applied at the next reboot"),
                   "reboot": (True, "rebooting"), "status": (True, json.dumps({"free_heap": 123456, "buffered": 0})),
                   "calibrate": (True, f"{cmd.get('kind')} calibration done"),
                   "ota": (False, "demo node: firmware updates are not simulated here")}
        ok, detail = answers.get(name, (False, f'unknown cmd "{name}"'))
        self.client.publish(f"{msg.topic}/result", json.dumps({"id": cid, "ok": ok, "detail": detail}), qos=1)
