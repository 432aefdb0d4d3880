"""Command line: ``python -m kiosk run|sync|selftest --config FILE``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk import config as kiosk_config

if TYPE_CHECKING:
    from kiosk.hardware.profiles import RecorderProfile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk", description="The Vertelpaal kiosk.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "serve the kiosk page on 127.0.0.1 and own camera, microphone and outbox"),
        ("sync", "enroll, fetch questions and send answers to the admin server (own process)"),
        ("selftest", "record 2 s from camera and microphone and report in plain words"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--config", required=True, type=Path, help="the kiosk's TOML file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        config = kiosk_config.load(args.config)
    except kiosk_config.ConfigError as error:
        print(f"Configuration problem: {error}", file=sys.stderr)
        return 2

    if args.command == "selftest":
        from kiosk.hardware import run_selftest

        # Measured afresh (and kept for the next start): whoever runs the selftest wants today's figure.
        profile = _recorder_profile(config, remeasure=True)
        report = run_selftest(
            config.camera.source,
            config.microphone.device,
            config.data_dir / "selftest",
            width=config.camera.width,
            height=config.camera.height,
            fps=config.camera.fps,
            profile=profile,
        )
        for line in report.lines():
            print(line)
        return 0 if report.ok else 1

    if args.command == "sync":
        from kiosk.sync import SyncError, SyncService

        try:
            service = SyncService(config)
        except SyncError as error:
            print(f"Cannot sync: {error}", file=sys.stderr)
            return 2
        service.run_forever(interval=config.sync.interval_seconds)
        return 0

    from waitress import serve

    from kiosk.app import create_app
    from kiosk.devices import Devices

    # Before serving, so the measurement has the machine to itself; kept, so a restart skips it.
    profile = _recorder_profile(config)
    print(f"Recorder profile: {profile.summary()}", flush=True)
    app = create_app(config, devices=Devices(config, settings=profile.settings()))
    print(f"Vertelpaal kiosk: http://{config.host}:{config.port}/", flush=True)
    serve(app, host=config.host, port=config.port, threads=8, channel_timeout=30)
    return 0


def _recorder_profile(config: kiosk_config.KioskConfig, remeasure: bool = False) -> RecorderProfile:
    from kiosk.hardware.profiles import AUTO, recorder_profile, recorder_profile_apart
    from kiosk.paths import SyncPaths

    cam = config.camera
    # The service lives for days: it measures in a child process, which takes its memory with it.
    find = recorder_profile_apart if config.recorder.profile == AUTO and not remeasure else recorder_profile
    return find(
        SyncPaths(config.data_dir).recorder_profile,
        config.recorder.profile,
        width=cam.width,
        height=cam.height,
        fps=cam.fps,
        remeasure=remeasure,
    )


if __name__ == "__main__":
    sys.exit(main())
