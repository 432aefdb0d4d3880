"""The sync service (`python -m kiosk sync`): its own process, so a stalled network never
freezes the screen and a crash of one never loses what the other wrote.

It enrolls the kiosk (the page shows the pairing code until staff approve it), keeps the
questions up to date (all media downloaded and checked before the kiosk switches), sends every
finished session exactly once (recordings by tus, then the session), and reports its health.
Local recordings are deleted only after the server has confirmed their session.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import socket
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError

import mediaseal
from durable import file_sha256, write_atomically
from kiosk.config import KioskConfig
from kiosk.outbox import Outbox, OutboxRecording, OutboxSession
from kiosk.paths import SyncPaths

log = logging.getLogger("kiosk.sync")

REQUEST_TIMEOUT = 30.0  # seconds of silence on a connection before it counts as broken
CHUNK_SIZE = 1024 * 1024  # the default of [sync] upload_chunk_kb
MAX_BACKOFF = 300.0  # the default of [sync] max_backoff_seconds
OFFLINE_QUESTIONNAIRE = "default"  # the built-in questions; only a standalone kiosk answers them


class SyncError(RuntimeError):
    """Something the next round may fix (network, server busy)."""


class NotEnrolled(SyncError):
    pass


class Refused(RuntimeError):
    """The server will never take this session as it is (sending again cannot help)."""


def app_version() -> str:
    try:
        return metadata.version("vertelpaal")
    except metadata.PackageNotFoundError:
        return "unknown"


class SyncService:
    def __init__(self, config: KioskConfig, chunk_size: int | None = None) -> None:
        if not config.server_url:
            raise SyncError("server_url is not set in the kiosk configuration: nothing to sync with")
        self.config = config
        self.base = config.server_url.rstrip("/") + "/api/kiosk/v1"
        self.paths = SyncPaths(config.data_dir)
        self.outbox = Outbox(config.outbox_path, config.recordings_dir)
        # The kiosk's TOML ([sync] upload_chunk_kb, default 1 MiB) unless a caller chooses.
        self.chunk_size = chunk_size or config.sync.upload_chunk_kb * 1024
        self.http = requests.Session()
        self.http.hooks["response"].append(self._note_retry_after)
        self.started = time.monotonic()
        self.failures = 0
        self.retry_after = 0.0  # what the server asked with its last 429 or 503

    # --- the loop ------------------------------------------------------------------------------

    def run_forever(self, interval: float = 10.0, heartbeat_every: float = 60.0) -> None:
        # tuspy makes its requests without a timeout; this default covers every socket of this process.
        socket.setdefaulttimeout(REQUEST_TIMEOUT)
        last_heartbeat = -math.inf
        while True:
            try:
                heartbeat_due = time.monotonic() - last_heartbeat >= heartbeat_every
                self.run_once(heartbeat=heartbeat_due)
                if heartbeat_due:
                    last_heartbeat = time.monotonic()
                self.failures = 0
                time.sleep(interval)
            except NotEnrolled:
                time.sleep(self._enrollment_poll())
            except (SyncError, requests.RequestException, TusCommunicationError, OSError) as error:
                self.failures += 1
                delay = self.backoff(self.failures, self.config.sync.max_backoff_seconds)
                # A server that is too busy says when to come back: not sooner than that.
                delay, self.retry_after = max(delay, self.retry_after), 0.0
                log.warning("sync failed (%s); next try in %.0f s", error, delay)
                time.sleep(delay)

    def _note_retry_after(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.status_code in (429, 503):  # too many requests, or too busy
            try:
                seconds = float(response.headers.get("Retry-After", ""))
            except ValueError:
                return
            self.retry_after = min(max(seconds, 0.0), self.config.sync.max_backoff_seconds)

    @staticmethod
    def backoff(failures: int, cap: float = MAX_BACKOFF) -> float:
        """Exponential with full jitter, so twenty kiosks back online do not all knock at once."""
        return random.uniform(0, min(cap, 2.0 ** min(failures, 10)))

    def run_once(self, heartbeat: bool = True) -> None:
        """One round, each thing once. A changed configuration is noticed one way only: the
        conditional GET /config (a 304 costs the server no media and the kiosk no download)."""
        self.ensure_token()
        self.pull_config()
        self.push()
        if heartbeat:
            self.heartbeat()

    # --- enrollment ------------------------------------------------------------------------------

    def token(self) -> str | None:
        try:
            return self.paths.token.read_text().strip() or None
        except FileNotFoundError:
            return None

    def ensure_token(self) -> str:
        token = self.token()
        if token:
            return token
        enrollment = self._enrollment()
        response = self.http.get(
            f"{self.base}/enrollments/{enrollment['id']}",
            headers={"X-Enrollment-Secret": enrollment["secret"]},
            timeout=REQUEST_TIMEOUT,
        )
        if response.status_code == 202:
            raise NotEnrolled(f"waiting for staff to type pairing code {enrollment['pairing_code']}")
        if response.status_code == 200:
            token = response.json()["token"]
            write_atomically(self.paths.token, token.encode(), mode=0o600)
            self.paths.enrollment.unlink(missing_ok=True)
            log.info(
                "enrolled as kiosk %s in %s", response.json()["kiosk_id"], response.json()["branch"]["name"]
            )
            return token
        if response.status_code in (404, 410):
            self.paths.enrollment.unlink(missing_ok=True)  # expired or lost: ask again
            raise NotEnrolled("the pairing code expired; asking for a new one")
        raise SyncError(f"enrollment poll answered {response.status_code}")

    def _enrollment(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.paths.enrollment.read_text()))
        except (FileNotFoundError, ValueError):
            pass
        response = self.http.post(
            f"{self.base}/enrollments", json={"name": socket.gethostname()}, timeout=REQUEST_TIMEOUT
        )
        if response.status_code != 201:
            raise SyncError(f"enrollment answered {response.status_code}")
        enrollment = response.json()
        # The kiosk page reads this file and shows the pairing code on screen.
        write_atomically(self.paths.enrollment, json.dumps(enrollment).encode(), mode=0o600)
        log.info("pairing code %s: type it on the admin's Kiosks page", enrollment["pairing_code"])
        return enrollment

    def _enrollment_poll(self) -> float:
        try:
            return float(json.loads(self.paths.enrollment.read_text()).get("poll_seconds", 5))
        except (FileNotFoundError, ValueError):
            return 5.0

    def _auth(self) -> dict[str, str]:
        token = self.token()
        if not token:
            raise NotEnrolled("no token yet")
        return {"Authorization": f"Bearer {token}"}

    def _check_auth(self, response: requests.Response) -> None:
        if response.status_code == 401:
            # Revoked (or the server forgot us): start over with a new pairing code.
            self.paths.token.unlink(missing_ok=True)
            raise NotEnrolled("the server does not know this kiosk's token any more")

    # --- questions out -----------------------------------------------------------------------

    def current_config(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.paths.config.read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def pull_config(self) -> bool:
        """Fetch the configuration; switch only when every media file is here and checked."""
        current = self.current_config()
        headers = self._auth()
        if current and current.get("etag"):
            headers["If-None-Match"] = current["etag"]
        response = self.http.get(f"{self.base}/config", headers=headers, timeout=REQUEST_TIMEOUT)
        self._check_auth(response)
        if response.status_code == 304:
            return False
        if response.status_code != 200:
            raise SyncError(f"config answered {response.status_code}")
        document = response.json()
        for item in document["media"]:
            self._download(item)
        document["etag"] = response.headers.get("ETag", "")
        write_atomically(self.paths.config, json.dumps(document).encode())
        self._drop_unused_media(document)
        log.info("new configuration with %d questionnaires", len(document["questionnaires"]))
        return True

    def _download(self, item: dict[str, Any]) -> None:
        target = self.paths.cache / item["sha256"]
        if target.is_file():
            return
        self.paths.cache.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        offset = partial.stat().st_size if partial.exists() else 0
        headers = {**self._auth(), "Range": f"bytes={offset}-"} if offset else self._auth()
        url = self.config.server_url.rstrip("/") + item["url"]
        with self.http.get(url, headers=headers, stream=True, timeout=REQUEST_TIMEOUT) as response:
            self._check_auth(response)
            if response.status_code == 200:
                offset = 0  # the server sent it whole
            elif response.status_code != 206:
                raise SyncError(f"media {item['sha256'][:12]} answered {response.status_code}")
            with partial.open("ab" if offset else "wb") as out:
                for chunk in response.iter_content(256 * 1024):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        if file_sha256(partial) != (item["sha256"], item["size"]):
            partial.unlink()
            raise SyncError(f"media {item['sha256'][:12]} arrived damaged; fetching it again")
        os.replace(partial, target)

    def _drop_unused_media(self, document: dict[str, Any]) -> None:
        wanted = {item["sha256"] for item in document["media"]}
        for path in self.paths.cache.glob("*"):
            if path.is_file() and path.name not in wanted and not path.name.endswith(".part"):
                path.unlink()

    # --- answers in ----------------------------------------------------------------------------

    def push(self) -> int:
        """Send every finished session; returns how many the server confirmed."""
        confirmed = 0
        for session in self.outbox.unsent():
            if session.questionnaire_id == OFFLINE_QUESTIONNAIRE:
                self.outbox.mark_refused(session.uuid, "answered the built-in questions before enrollment")
                continue
            try:
                for answer in session.answers:
                    recording = answer.recording
                    if recording is not None and recording.uploaded_at is None:
                        self._upload(recording)
            except Refused as error:
                # Set aside like a refused session: uncaught, it ended the service, which then
                # failed on the same recording after every restart and never sent anything else.
                self.outbox.mark_refused(session.uuid, str(error))
                log.error("server refused a recording of session %s: %s", session.uuid, error)
                continue
            if self._put_session(session):
                confirmed += 1
        return confirmed

    def _upload(self, recording: OutboxRecording) -> None:
        client = TusClient(f"{self.base}/uploads", headers=self._auth())
        recording_uuid, path, url = recording.uuid, self.outbox.file_of(recording), recording.upload_url
        # Metadata goes out only when the upload is created.
        metadata = upload_metadata(path, recording) if url is None else {}
        # We open the file ourselves: tuspy leaves a file it opened by path unclosed.
        with path.open("rb") as stream:
            try:
                # With a stored url the uploader asks the server's offset (HEAD) and resumes there.
                uploader = client.uploader(
                    file_stream=stream,
                    url=url,
                    chunk_size=self.chunk_size,
                    upload_checksum=True,
                    metadata=metadata,
                )
                if url is None:
                    # Remember the upload before sending a byte: after a crash it resumes, never restarts.
                    uploader.set_url(uploader.create_url())
                    uploader.offset = 0
                    self.outbox.set_upload_url(recording_uuid, uploader.url)
                uploader.upload()
            except TusCommunicationError as error:
                self._upload_failed(recording_uuid, error)
        self.outbox.mark_uploaded(recording_uuid)

    def _upload_failed(self, recording_uuid: str, error: TusCommunicationError) -> None:
        if error.status_code in (404, 410, 460):
            # The server dropped it (expired, or the whole file's sha256 did not match): start over.
            self.outbox.set_upload_url(recording_uuid, None)
        if error.status_code in (413, 415, 422):
            raise Refused(
                f"recording refused: {error.status_code} {error.response_content!r:.300}"
            ) from error
        if error.status_code == 401:
            self.paths.token.unlink(missing_ok=True)
            raise NotEnrolled("token refused during upload") from error
        raise error

    def _put_session(self, session: OutboxSession) -> bool:
        body = session_body(session)
        response = self.http.put(
            f"{self.base}/sessions/{session.uuid}", json=body, headers=self._auth(), timeout=REQUEST_TIMEOUT
        )
        self._check_auth(response)
        if response.status_code in (200, 201):
            self.outbox.confirm(session.uuid)
            return True
        if response.status_code == 409 and response.json().get("missing"):
            missing = set(response.json()["missing"])
            for answer in session.answers:
                if answer.recording is not None and answer.recording.sha256 in missing:
                    self.outbox.set_upload_url(answer.recording.uuid, None)
            raise SyncError(
                f"server misses {len(missing)} recording(s) of session {session.uuid}; sending again"
            )
        if response.status_code in (409, 422):
            # Sending it again cannot help; keep it on the kiosk for a person to look at.
            self.outbox.mark_refused(session.uuid, f"{response.status_code}: {response.text[:400]}")
            log.error("server refused session %s: %s", session.uuid, response.text[:400])
            return False
        raise SyncError(f"session {session.uuid} answered {response.status_code}")

    # --- health ----------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        depth, oldest = self.outbox.backlog()
        status: dict[str, Any] = {
            "app_version": app_version(),
            "uptime_seconds": round(time.monotonic() - self.started),
            "outbox_depth": depth,
            "oldest_unsent_at": oldest.isoformat() if oldest else None,
            "disk_free_bytes": shutil.disk_usage(self.config.data_dir).free,
            "clock": datetime.now(UTC).isoformat(),
        }
        config = self.current_config()
        if config and config.get("etag"):
            status["config_etag"] = config["etag"]
        with contextlib.suppress(FileNotFoundError, ValueError):
            status.update(json.loads(self.paths.hardware.read_text()))  # written by the kiosk service
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError, TypeError):
            status["recorder_profile"] = json.loads(self.paths.recorder_profile.read_text())["summary"]
        response = self.http.post(
            f"{self.base}/heartbeat", json=status, headers=self._auth(), timeout=REQUEST_TIMEOUT
        )
        self._check_auth(response)

    def close(self) -> None:
        self.http.close()
        self.outbox.close()


def upload_metadata(path: Path, recording: OutboxRecording) -> dict[str, str]:
    """The tus Upload-Metadata of a recording. ``recording.sha256`` is the recording's own (which
    the session names). A sealed file travels sealed: the server checks the sha256 of the sealed
    bytes, opens them with its private key and checks the recording inside against plain_sha256.
    (A damaged sealed file fails that opening; the server refuses it with 422.)"""
    kind = "video/mp4" if recording.kind == "video" else "audio/mp4"
    metadata = {"filename": path.name, "filetype": kind}
    sealed_sha256 = recording.sealed_sha256
    if sealed_sha256 is None and mediaseal.file_is_sealed(path):
        # Sealed by a kiosk version that did not keep the hash it made while writing.
        sealed_sha256 = file_sha256(path)[0]
    if sealed_sha256 is None:
        return {**metadata, "sha256": recording.sha256}
    return {**metadata, "sha256": sealed_sha256, "sealed": "1", "plain_sha256": recording.sha256}


def session_body(session: OutboxSession) -> dict[str, Any]:
    """The session as the server's PUT /sessions/{uuid} wants it; the same bytes every time."""

    def moment(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat() if value else None

    body = {
        "questionnaire_version_id": session.questionnaire_version,
        "language": session.language,
        "consent": session.consent,
        "consent_version": session.consent_version,
        "started_at": moment(session.started_at),
        "finished_at": moment(session.finished_at),
        "answers": [
            {
                "uuid": a.uuid,
                "question_id": int(a.question_id),
                "kind": a.kind,
                "value": a.value,
                "media_sha256": a.recording.sha256 if a.recording else None,
                "answered_at": moment(a.answered_at),
            }
            for a in session.answers
        ],
    }
    # Only when asked, so that sessions made before the step existed keep their exact bytes.
    if session.parent_consent is not None:
        body["parent_consent"] = session.parent_consent
    # Likewise only when a device did not work: the reason some answers were not offered.
    if session.missing_devices:
        body["missing_devices"] = session.missing_devices
    if session.activity is not None:
        body["activity"] = session.activity
    if session.member is not None:
        body["member"] = session.member
    return body
