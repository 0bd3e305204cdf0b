# reel — build, lint and test.
#
#   make deps    install the Debian packages and Rust components the build and tests need
#   make build   release build
#   make run     build and open the window with the demo track queued and playing (RUN_ARGS)
#   make lint    rustfmt check + clippy, warnings are errors
#   make test    lint, then the whole test suite inside a private sound server
#                (tests/support/with-sound-server.sh: PipeWire + a null sink, no sound card),
#                then a short fuzz run of every fuzz target (fuzz-smoke)
#   make fuzz    fuzz every target for FUZZ_SECONDS each (default 300)
#   make bench   reel side by side with ffmpeg, mpv and cp; regenerates docs/PERFORMANCE.md
#                (benches/compare.py, sized for 30 min; BENCH_QUICK=1 for a short development run)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# cargo from rustup lives in ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
ifeq ($(shell command -v cargo 2>/dev/null),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif

CARGO ?= cargo
RUN_ARGS ?= assets/demo.flac
# One test at a time: tests that record the sink must not share the CPU with another test
# generating or decoding files, or the recording (not reel) can show gaps on a 2-core machine.
TEST_THREADS ?= 1

# Everything the build and the tests use, as Debian packages:
#   build-essential pkg-config libasound2-dev   compile and link against ALSA (cpal); build-essential
#                                               also compiles SQLite for rusqlite (`bundled`)
#   pipewire wireplumber pipewire-pulse          the private sound server of `make test`
#   pipewire-alsa                                routes ALSA "default" (what cpal opens) to it
#   pulseaudio-utils                             pactl/paplay, to drive it
#   dbus                                         a private session bus (wireplumber needs one)
#   tini                                         reaps sound-server daemons a test restarts
#   ffmpeg sox mpv                               make, decode and play test files
#   xvfb xauth imagemagick                       a virtual display and screenshots for GUI tests
#   x11-utils                                    xwininfo: find the window on that display
#   libgl1 libegl1 libgl1-mesa-dri               OpenGL (software, Mesa) for the window (glow)
#   libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2   what winit loads at run time on X11
#   stress-ng hyperfine                          load and timing for the performance tests
DEB_PACKAGES := build-essential pkg-config libasound2-dev \
	pipewire wireplumber pipewire-pulse pipewire-alsa pulseaudio-utils dbus tini \
	ffmpeg sox mpv xvfb xauth imagemagick stress-ng hyperfine \
	x11-utils libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2

# Commands that must work once the packages are in (a package can be "installed" but broken).
DEB_COMMANDS := cc pkg-config pipewire wireplumber pipewire-pulse pw-record pw-play pw-dump \
	pw-metadata pactl paplay dbus-daemon dbus-send tini ffmpeg sox mpv Xvfb xauth convert \
	stress-ng hyperfine xwininfo import

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: all deps build run lint fmt test bench clean fuzz fuzz-smoke fuzz-deps

all: build

deps:
	@missing=(); \
	for p in $(DEB_PACKAGES); do \
		if [[ "$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null || true)" != "install ok installed" ]]; then \
			missing+=("$$p"); \
		fi; \
	done; \
	if (( $${#missing[@]} )); then \
		echo "deps: installing $${missing[*]}"; \
		$(APT) update; \
		$(APT) install -y --no-install-recommends "$${missing[@]}"; \
	fi
	@broken=(); \
	for c in $(DEB_COMMANDS); do command -v "$$c" >/dev/null || broken+=("$$c"); done; \
	pkg-config --exists alsa || broken+=("pkg-config alsa"); \
	if (( $${#broken[@]} )); then echo "deps: still missing after install: $${broken[*]}" >&2; exit 1; fi
	@if ! command -v $(CARGO) >/dev/null; then \
		echo "deps: cargo not found (install Rust with rustup; ~/.cargo/bin is searched)" >&2; exit 1; \
	fi
	@if ! $(CARGO) fmt --version >/dev/null 2>&1 || ! $(CARGO) clippy --version >/dev/null 2>&1; then \
		echo "deps: adding rustfmt and clippy"; \
		rustup component add rustfmt clippy; \
	fi

build: deps
	$(CARGO) build --release

run: build
	$(CARGO) run --release -- $(RUN_ARGS)

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --lib --bins -- -D warnings

fmt:
	$(CARGO) fmt --all

# Compile everything first, outside the sound server, so the server only lives while tests
# run; then run the library's doc tests (if any) and every test target (unit, integration,
# benches in test mode, examples), all inside the private sound server.
# The doc tests (if there is a library) go first so that the suite's closing line is last.
test: deps lint
	$(CARGO) test --all-targets --no-run
	@if [[ -f src/lib.rs ]]; then \
		echo "tests/support/with-sound-server.sh $(CARGO) test --doc"; \
		tests/support/with-sound-server.sh $(CARGO) test --doc; \
	fi
	RUST_TEST_THREADS=$(TEST_THREADS) tests/support/with-sound-server.sh $(CARGO) test --all-targets --no-fail-fast
	$(MAKE) fuzz-smoke

# Fuzzing: fuzz/ is a cargo-fuzz (libFuzzer) project in its own workspace, so the main build
# never compiles it. Its targets: `decode` (arbitrary bytes through the engine's probe, decode,
# channel map and resampler) and `cache_index` (arbitrary bytes as the cache's index.json).
#
# On a stable toolchain: cargo-fuzz's default sanitizer (AddressSanitizer) needs nightly's
# -Zsanitizer, but libFuzzer itself only needs SanitizerCoverage, which stable rustc's -C flags
# provide; `--sanitizer none` is cargo-fuzz's supported way to build with just that (no
# RUSTC_BOOTSTRAP). reel has no unsafe code on these paths, so what the fuzzers look for is
# panics, aborts, hangs (-timeout) and runaway memory (-rss_limit_mb), which need no sanitizer.
# `--debug-assertions` keeps integer-overflow checks on, as in the test builds.
# A crash is saved under fuzz/artifacts/TARGET/; reproduce it with
# `cargo fuzz run --sanitizer none --debug-assertions TARGET fuzz/artifacts/TARGET/crash-...`.
FUZZ_TARGETS := decode cache_index
FUZZ_SECONDS ?= 300
# make test's smoke run, per target (the build comes on top: about 1 min warm, 10 cold).
FUZZ_SMOKE_SECONDS ?= 25
FUZZ_BUILD_FLAGS := --sanitizer none --debug-assertions
FUZZ_RUN_FLAGS := -timeout=10 -rss_limit_mb=1024 -print_final_stats=1

fuzz-deps: deps
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz

# Runs every target for $(1) seconds, from the committed seeds (fuzz/seeds/TARGET), the crashes
# found so far (fuzz/regressions/TARGET, committed; each also has a test in the main suite)
# and what earlier runs found (fuzz/corpus/TARGET, not committed). libFuzzer's output goes to
# fuzz/logs/TARGET.log.
define fuzz_all
	$(CARGO) fuzz build $(FUZZ_BUILD_FLAGS)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t fuzz/artifacts/$$t fuzz/regressions/$$t fuzz/logs; \
		log=fuzz/logs/$$t.log; \
		echo "fuzz: $$t for $(1) s (libFuzzer's output: $$log)"; \
		if ! $(CARGO) fuzz run $(FUZZ_BUILD_FLAGS) $$t fuzz/corpus/$$t fuzz/seeds/$$t fuzz/regressions/$$t -- \
			-max_total_time=$(1) $(FUZZ_RUN_FLAGS) >"$$log" 2>&1; then \
			tail -n 60 "$$log"; echo "fuzz: $$t FAILED (input saved under fuzz/artifacts/$$t/)"; exit 1; \
		fi; \
		grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb))' "$$log" \
			| sed "s/^/fuzz: $$t: /"; \
	done
endef

fuzz: fuzz-deps
	$(call fuzz_all,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-deps
	$(call fuzz_all,$(FUZZ_SMOKE_SECONDS))

# Not part of `make test`: it is sized for 30 minutes and its figures are ratios, not pass/fail.
# benches/compare.py needs, besides the test packages, python3 (the standard library only) and
# linux-perf (perf, to profile the figures that miss their target) and eatmydata (the import
# without its fsyncs, for comparison).
BENCH_DEB_PACKAGES := python3 linux-perf eatmydata

bench: deps
	@missing=(); \
	for p in $(BENCH_DEB_PACKAGES); do \
		if [[ "$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null || true)" != "install ok installed" ]]; then \
			missing+=("$$p"); \
		fi; \
	done; \
	if (( $${#missing[@]} )); then \
		echo "bench: installing $${missing[*]}"; \
		$(APT) update; \
		$(APT) install -y --no-install-recommends "$${missing[@]}"; \
	fi
	python3 benches/compare.py

clean:
	$(CARGO) clean
