# Vertelpaal: `make demo` runs the system on embedded defaults, `make test` passes every test.
# Both install what they need on a Debian machine: Debian packages (as root), a virtualenv, the package.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= var/demo
DEMO_PORT ?= 5000
KIOSK_PORT ?= 8080

# Debian packages the system and its tests use (the tests really run PostgreSQL, Chromium and PulseAudio).
DEBIAN_PACKAGES := python3 python3-venv postgresql chromium ffmpeg espeak-ng sox \
	pulseaudio pulseaudio-utils libasound2-plugins libportaudio2 libgl1 libglib2.0-0 fonts-dejavu-core \
	nginx rsync openssl

.PHONY: demo test bench lint system-packages venv translations lock clean arm64-selftest

system-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(BIN)/.installed

# Every package comes from the lock, pinned with its hashes, so a fresh machine installs exactly what
# was tested; the project itself is installed on top without resolving anything.
LOCKS := deploy/requirements
$(BIN)/.installed: pyproject.toml $(LOCKS)/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCKS)/dev.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Writes the locks anew from pyproject.toml (after a dependency changed): the kiosk's and the admin's
# for deployment, the developers' for `make test` and `make demo`. Every platform a Pi or server may be.
UV_COMPILE = $(BIN)/uv pip compile -q --custom-compile-command "make lock" --generate-hashes --universal --python-version 3.11 pyproject.toml $(LOCKS)/build.in
lock: venv
	$(UV_COMPILE) --extra kiosk -o $(LOCKS)/kiosk.lock
	$(UV_COMPILE) --extra admin -o $(LOCKS)/admin.lock
	$(UV_COMPILE) $(LOCKS)/tools.in --extra dev -o $(LOCKS)/dev.lock

translations: venv
	$(BIN)/pybabel extract -F admin/babel.cfg -k _l -o admin/translations/messages.pot admin
	$(BIN)/pybabel -q update --ignore-obsolete -w 100 -i admin/translations/messages.pot -d admin/translations
	$(BIN)/pybabel -q compile -d admin/translations

# Test files run side by side in this many pytest-xdist workers (a file stays in one worker, so its
# module fixtures, such as the deploy tests' rendered hosts, are built once). Much of the suite waits
# on Chromium, gunicorn, ffmpeg and kiosk processes, so two workers help even on two cores.
TEST_WORKERS ?= 2

test: system-packages venv
	$(BIN)/ruff check .
	VERTELPAAL_REQUIRE_ALL=1 $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check admin kiosk mediaseal durable tests bench media

bench: system-packages venv
	$(BIN)/python bench/run.py

demo: system-packages venv
	mkdir -p $(DEMO_DIR)/kiosk
	@if [ -e /dev/video0 ]; then camera=0; else camera=$(CURDIR)/media/sample/camera.mp4; fi; \
	printf 'data_dir = "%s"\nport = %s\nserver_url = "http://127.0.0.1:%s"\n[camera]\nsource = "%s"\n[sync]\ninterval_seconds = 5\n' \
		"$(CURDIR)/$(DEMO_DIR)/kiosk" "$(KIOSK_PORT)" "$(DEMO_PORT)" "$$camera" > $(DEMO_DIR)/kiosk.toml
	@export VERTELPAAL_ENV=development DATABASE_URL=sqlite:///$(CURDIR)/$(DEMO_DIR)/admin.sqlite3 \
		MEDIA_ROOT=$(CURDIR)/$(DEMO_DIR)/media KIOSK_SEALING_KEY_FILE=$(CURDIR)/$(DEMO_DIR)/kiosk-sealing.key; \
	$(BIN)/flask --app admin db upgrade && \
	$(BIN)/flask --app admin demo seed && \
	{ $(BIN)/gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:$(DEMO_PORT) 'admin:create_app()' \
		> $(DEMO_DIR)/admin.log 2>&1 & admin=$$!; \
	  $(BIN)/python -m kiosk sync --config $(DEMO_DIR)/kiosk.toml > $(DEMO_DIR)/sync.log 2>&1 & sync=$$!; \
	  trap 'kill $$admin $$sync 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/python -m admin.demo.pair_kiosk $(DEMO_DIR)/kiosk Roden > $(DEMO_DIR)/pair.log 2>&1 & \
	  echo; echo "Vertelpaal admin: http://127.0.0.1:$(DEMO_PORT)/  (sign in with an account above; log: $(DEMO_DIR)/admin.log)"; \
	  echo "Vertelpaal kiosk: http://127.0.0.1:$(KIOSK_PORT)/  (camera: $$(sed -n 's/^source = //p' $(DEMO_DIR)/kiosk.toml);" \
	       "paired with the admin as 'Demokiosk' in Roden; answers reach the admin within seconds)"; \
	  echo "Press Ctrl+C to stop all three."; echo; \
	  $(BIN)/python -m kiosk run --config $(DEMO_DIR)/kiosk.toml; }

clean:
	rm -rf $(DEMO_DIR)

# The kiosk on the Raspberry Pi's architecture: a Debian 12 arm64 root (kept in var/arm64/), the
# kiosk installed from its lock, `python -m kiosk selftest` with the file camera, under qemu.
# As root; not part of `make test` (the first run takes many minutes).
arm64-selftest:
	deploy/arm64/selftest.sh
