# Petrel - top-level driver for the Meson build.
#   make        release build in build/ (binary: build/petrel)
#   make run    install what is missing, build, start on the development config
#   make test   install what is missing, build with ASan+UBSan (and the release
#               build, for its warnings and valgrind's run), run every test
#   make bench  side-by-side benchmark against Postfix, the queue at scale
#               (SCALE_MESSAGES queued to a refusing destination), then the cost of privilege
#               separation (this build against BASELINE, the last single-process commit),
#               then IMAP against Dovecot (IMAP_SCALE: 1 = issue 10's sizes, 0.1 a quick run)
#   make fuzz   build the libFuzzer targets with clang (build-fuzz/)

BUILD      ?= build
TESTBUILD  ?= build-test
FUZZBUILD  ?= build-fuzz
PY         := /usr/bin/python3
BASELINE   ?= d0ddefb
SCALE_MESSAGES ?= 1000000
IMAP_SCALE ?= 1

.PHONY: all deps build run test unit integration fuzz fuzz-smoke bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# only the binary: the unit tests and fuzz targets in build/ are make test's
run: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) petrel
	@scripts/dev-setup.sh var $(BUILD)/petrel
	./$(BUILD)/petrel serve -c var/petrel.conf

$(TESTBUILD)/build.ninja:
	meson setup $(TESTBUILD) --buildtype=debug -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false

# The release build is compiled too: gcc -O3 warns about things the debug
# build does not see, and make run must never be the first to find them.
test: deps $(TESTBUILD)/build.ninja $(BUILD)/build.ninja
	ninja -C $(BUILD)
	ninja -C $(TESTBUILD)
	@scripts/run-tests.sh $(TESTBUILD) $(BUILD)

$(FUZZBUILD)/build.ninja:
	CC=clang meson setup $(FUZZBUILD) --buildtype=debug -Dfuzz=true -Db_lundef=false

fuzz: deps $(FUZZBUILD)/build.ninja
	ninja -C $(FUZZBUILD)

bench: build
	@scripts/install-deps.sh
	$(PY) bench/bench.py --petrel $(BUILD)/petrel
	$(PY) bench/bench.py --petrel $(BUILD)/petrel --only scale --scale-messages $(SCALE_MESSAGES)
	@scripts/build-baseline.sh $(BASELINE) build-baseline
	$(PY) bench/privsep.py --petrel $(BUILD)/petrel --baseline build-baseline/build/petrel
	$(PY) bench/imap.py --petrel $(BUILD)/petrel --scale $(IMAP_SCALE)
	$(PY) bench/scaleout.py --petrel $(BUILD)/petrel

clean:
	rm -rf $(BUILD) $(TESTBUILD) $(FUZZBUILD) build-baseline
