# reel — build, lint and test.
#
#   make deps    install the Debian packages and Rust components the build and tests need
#   make build   release build
#   make install install reel for one user or all (PREFIX, default /usr/local; PREFIX=~/.local
#                needs no root): binary, launcher entry, icon, man pages, shell completions
#   make uninstall   remove what `make install` installed (same PREFIX)
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
#   libopus-dev                                  the system libopus that Opus decoding links
#                                                (symphonia-adapter-libopus without `bundled`)
#   pipewire wireplumber pipewire-pulse          the private sound server of `make test`
#   pipewire-alsa                                routes ALSA "default" (what cpal opens) to it
#   pulseaudio-utils                             pactl/paplay, to drive it
#   dbus                                         a private session bus (wireplumber needs one)
#   tini                                         reaps sound-server daemons a test restarts
#   ffmpeg sox mpv                               make, decode and play test files
#   lame                                         MP3s with lame's own LAME tag (tests/gapless.rs)
#   xvfb xauth imagemagick                       a virtual display and screenshots for GUI tests
#   x11-utils                                    xwininfo: find the window on that display
#   libgl1 libegl1 libgl1-mesa-dri               OpenGL (software, Mesa) for the window (glow)
#   libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2   what winit loads at run time on X11
#   stress-ng hyperfine                          load and timing for the performance tests
#   librsvg2-bin                                 rsvg-convert: `make install` renders the icon's PNG sizes
#   desktop-file-utils                           desktop-file-validate: the install test checks the launcher
#   man-db groff-base                            man -l: the install test renders the man page
#   python3-fusepy fuse                          a throttled FUSE source for the streaming tests
#                                                (tests/support/slowfs.py; fuse: fusermount)
#   playerctl systemd                            playerctl and busctl drive reel's MPRIS player in
#                                                tests/mpris.rs
DEB_PACKAGES := build-essential pkg-config libasound2-dev libopus-dev \
	pipewire wireplumber pipewire-pulse pipewire-alsa pulseaudio-utils dbus tini \
	ffmpeg sox mpv lame xvfb xauth imagemagick stress-ng hyperfine \
	x11-utils libgl1 libegl1 libgl1-mesa-dri libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 \
	librsvg2-bin desktop-file-utils man-db groff-base python3-fusepy fuse playerctl systemd

# Commands that must work once the packages are in (a package can be "installed" but broken).
DEB_COMMANDS := cc pkg-config pipewire wireplumber pipewire-pulse parec pw-play pw-dump \
	pw-metadata pactl paplay dbus-daemon dbus-send tini ffmpeg sox mpv lame Xvfb xauth convert \
	stress-ng hyperfine xwininfo import rsvg-convert desktop-file-validate man groff fusermount \
	playerctl busctl

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: all deps build run lint fmt test bench clean fuzz fuzz-smoke fuzz-deps \
	install install-files uninstall

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
	pkg-config --exists opus || broken+=("pkg-config opus"); \
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

# Installing. The man pages and completions are generated by the binary being installed, from
# its own clap definitions (the hidden `reel generate`); the icon's PNG sizes are rendered from
# the one hand-written SVG (assets/reel.svg), so the repository holds no generated images.
# `install-files` installs REEL_BIN without building it (tests/install.rs passes its own build).
PREFIX ?= /usr/local
# `make install PREFIX=~/.local` from a shell that leaves the ~ alone (zsh, sh): expand it here.
override PREFIX := $(patsubst ~/%,$(HOME)/%,$(PREFIX))
DESTDIR ?=
REEL_BIN ?= target/release/reel
ICON_SIZES := 16 22 24 32 48 64 128 256
BIN_DIR = $(DESTDIR)$(PREFIX)/bin
SHARE_DIR = $(DESTDIR)$(PREFIX)/share
MAN1_DIR = $(SHARE_DIR)/man/man1
BASH_COMPLETION_DIR = $(SHARE_DIR)/bash-completion/completions
ZSH_COMPLETION_DIR = $(SHARE_DIR)/zsh/site-functions
FISH_COMPLETION_DIR = $(SHARE_DIR)/fish/vendor_completions.d
ICON_DIR = $(SHARE_DIR)/icons/hicolor

install: build
	@$(MAKE) --no-print-directory install-files

install-files:
	install -Dm755 $(REEL_BIN) $(BIN_DIR)/reel
	install -Dm644 assets/reel.desktop $(SHARE_DIR)/applications/reel.desktop
	install -Dm644 assets/reel.svg $(ICON_DIR)/scalable/apps/reel.svg
	@for s in $(ICON_SIZES); do \
		install -d $(ICON_DIR)/$${s}x$${s}/apps; \
		echo "rsvg-convert -w $$s -h $$s assets/reel.svg -o $(ICON_DIR)/$${s}x$${s}/apps/reel.png"; \
		rsvg-convert -w $$s -h $$s assets/reel.svg -o $(ICON_DIR)/$${s}x$${s}/apps/reel.png; \
	done
	install -d $(MAN1_DIR) $(BASH_COMPLETION_DIR) $(ZSH_COMPLETION_DIR) $(FISH_COMPLETION_DIR)
	$(REEL_BIN) generate man $(MAN1_DIR)
	$(REEL_BIN) generate completions bash >$(BASH_COMPLETION_DIR)/reel
	$(REEL_BIN) generate completions zsh >$(ZSH_COMPLETION_DIR)/_reel
	$(REEL_BIN) generate completions fish >$(FISH_COMPLETION_DIR)/reel.fish
	@echo "installed reel under $(DESTDIR)$(PREFIX)"

# Removes the files, then the folders install made if they are left empty (never PREFIX).
uninstall:
	rm -f $(BIN_DIR)/reel $(SHARE_DIR)/applications/reel.desktop \
		$(ICON_DIR)/scalable/apps/reel.svg $(foreach s,$(ICON_SIZES),$(ICON_DIR)/$(s)x$(s)/apps/reel.png) \
		$(MAN1_DIR)/reel.1 $(MAN1_DIR)/reel-*.1 \
		$(BASH_COMPLETION_DIR)/reel $(ZSH_COMPLETION_DIR)/_reel $(FISH_COMPLETION_DIR)/reel.fish
	@for d in $(foreach s,$(ICON_SIZES),$(ICON_DIR)/$(s)x$(s)/apps $(ICON_DIR)/$(s)x$(s)) \
		$(ICON_DIR)/scalable/apps $(ICON_DIR)/scalable $(ICON_DIR) $(SHARE_DIR)/icons \
		$(SHARE_DIR)/applications $(MAN1_DIR) $(SHARE_DIR)/man \
		$(BASH_COMPLETION_DIR) $(SHARE_DIR)/bash-completion $(ZSH_COMPLETION_DIR) $(SHARE_DIR)/zsh \
		$(FISH_COMPLETION_DIR) $(SHARE_DIR)/fish $(SHARE_DIR) $(BIN_DIR); do \
		if [[ -d "$$d" ]]; then rmdir --ignore-fail-on-non-empty "$$d"; fi; \
	done
	@echo "removed reel from $(DESTDIR)$(PREFIX)"

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
# linux-perf (perf, to profile the figures that miss their target), eatmydata (the import
# without its fsyncs, for comparison) and xdotool (types into the library filter of the window
# under Xvfb, for its frame time while typing).
BENCH_DEB_PACKAGES := python3 linux-perf eatmydata xdotool

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
