# `make run` and `make test` bootstrap everything they need: .venv, Python packages, Debian packages.
# `make run` installs only what the Pi needs (PI_DEBS and the venv with Loa's own packages); `make test`
# adds the development tools and the test servers (Chromium, Gammu, Node's SMSC, redis, RabbitMQ, Jasmin).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Debian packages: on the Pi, speech and audio processing and aplay for the loudspeakers (PI_DEBS);
# for development and tests also Chromium for the console tests, Gammu SMSD (the peer the benchmarks
# measure Loa against), Node.js for the test SMSC (npm `smpp`), redis and RabbitMQ for Jasmin, Icecast 2
# for the station's IP output (its tests start it on loopback; on the Pi it is optional), Kannel
# (kannel-extras has fakesmsc) that the compatibility endpoints are compared with, and libfaketime,
# preloaded into `loa run` for the tests of a wrong clock
PI_DEBS := espeak-ng ffmpeg alsa-utils
DEBS := $(PI_DEBS) icecast2 chromium gammu-smsd nodejs redis-server rabbitmq-server kannel kannel-extras faketime libfaketime
SMSC := tests/smsc/node_modules/.package-lock.json
# Jasmin, the SMS gateway the SMPP tests put between Loa and the SMSC, in a venv of its own (Twisted);
# pinned: 0.11.1 never forwards delivery receipts to SMPP clients
JASMIN := .venv-jasmin/.installed

.PHONY: run test lint deps debs pi-debs bench emulator clean install uninstall

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

# the tests' and linters' packages (pytest, Playwright, ruff, mypy…), never on the Pi
$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

deps: $(DEV_STAMP) debs $(SMSC) $(JASMIN)

$(JASMIN):
	$(PYTHON) -m venv .venv-jasmin
	.venv-jasmin/bin/pip install --quiet --upgrade pip
	.venv-jasmin/bin/pip install --quiet jasmin==0.11.0
	touch $(JASMIN)

# the SMSC the SMPP tests talk to: the npm `smpp` package, pinned by its lock file
# (Debian's nodejs comes without npm, NodeSource's with it: Debian's npm only when there is none)
$(SMSC): tests/smsc/package-lock.json | debs
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; } \
	  || { echo "npm is missing (sudo apt-get install npm)"; exit 1; }
	cd tests/smsc && npm ci --no-audit --no-fund --silent

debs pi-debs:
	@missing=""; for p in $(if $(filter pi-debs,$@),$(PI_DEBS),$(DEBS)); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "missing Debian packages:$$missing (run make as root, or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

run: $(STAMP) pi-debs
	$(BIN)/loa run

test: deps lint
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# every benchmark, one table (Markdown here, JSON in bench-results.json), Gammu SMSD beside Loa
bench: deps
	$(BIN)/python -m bench

emulator: $(STAMP)
	$(BIN)/loa emulator

# As root: the `loa` system user, Loa in /opt/loa, /etc/loa/config.toml (0640, kept if present),
# /var/lib/loa (0700) and the systemd unit, started at once. Run again to upgrade.
PREFIX := /opt/loa
# Debian's own Python for the service: the loa user must be able to reach it (not one under /root)
SERVICE_PYTHON ?= /usr/bin/python3
install: pi-debs
	@[ "$$(id -u)" = 0 ] || { echo "make install needs root (sudo make install)"; exit 1; }
	for g in dialout audio gpio; do getent group $$g >/dev/null || groupadd --system $$g; done
	id -u loa >/dev/null 2>&1 || useradd --system --home-dir /var/lib/loa --no-create-home \
	  --shell /usr/sbin/nologin --user-group loa
	usermod -a -G dialout,audio,gpio loa
	install -d -m 0755 $(PREFIX)
	install -m 0644 README.md $(PREFIX)/README.md
	@$(SERVICE_PYTHON) -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "$(SERVICE_PYTHON) must be Python ≥ 3.11 with venv (apt-get install python3 python3-venv)"; exit 1; }
	rm -rf $(PREFIX)/venv
	$(SERVICE_PYTHON) -m venv $(PREFIX)/venv
	$(PREFIX)/venv/bin/pip install --quiet --upgrade pip
	$(PREFIX)/venv/bin/pip install --quiet .
	install -d -m 0700 -o loa -g loa /var/lib/loa
	install -d -m 0750 -o root -g loa /etc/loa
	# the example's relative data/ paths made absolute: `loa doctor` or `loa backup` run from anywhere
	[ -e /etc/loa/config.toml ] || { sed 's|= "data/|= "/var/lib/loa/|' config.example.toml > /etc/loa/config.toml \
	  && chown root:loa /etc/loa/config.toml && chmod 0640 /etc/loa/config.toml; }
	install -m 0644 deploy/loa.service /etc/systemd/system/loa.service
	if [ -d /run/systemd/system ]; then systemctl daemon-reload && systemctl enable loa && systemctl restart loa; \
	else echo "systemd is not running here: the unit is installed, start it where systemd runs"; fi

# The service goes; /etc/loa and /var/lib/loa (config, database, audio) stay.
uninstall:
	@[ "$$(id -u)" = 0 ] || { echo "make uninstall needs root"; exit 1; }
	if [ -d /run/systemd/system ]; then systemctl disable --now loa || true; fi
	rm -f /etc/systemd/system/loa.service
	if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	rm -rf $(PREFIX)
	@echo "kept: /etc/loa (config) and /var/lib/loa (database, audio); remove them by hand if wanted"

clean:
	rm -rf $(VENV) .venv-jasmin .mypy_cache .ruff_cache .pytest_cache
