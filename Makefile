# patchbay: `make` builds build/patchbay-primary and build/patchbay-nfv.
#   make test-unit   C unit tests (cmocka), no hugepages needed
#   make test        everything: unit tests, then the integration tests
#   make fuzz        libFuzzer targets (clang, ASan+UBSan), FUZZ_SECONDS each
#   make test-sanitize  the integration tests against processes built with
#                    ASan+UBSan (into build-san/)

BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3

DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk)
DPDK_LIBS   := $(shell pkg-config --libs libdpdk)

CFLAGS  ?= -O3 -g
ifdef SANITIZE
CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=undefined
endif
# the one version of every program: controller/pbctl/__init__.py's
PB_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' \
                controller/pbctl/__init__.py)
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Icommon -MMD -MP \
           -DPB_VERSION='"$(PB_VERSION)"'
LDLIBS  += -lrte_bus_vdev -lpcap -ljansson -llz4 -lcrypto -lpthread

# Pure C pieces: no DPDK, shared with the unit tests and fuzzers.
PURE_SRCS := common/pb_uid.c common/pb_msg.c common/pb_patch.c common/pb_ctl.c common/pb_auth.c \
             common/pb_lcores.c common/pb_l2.c common/pb_pcapng.c
DPDK_SRCS := common/pb_shared.c common/pb_port.c common/pb_vhost.c common/pb_pcap.c \
             common/pb_shm.c common/pb_afpacket.c common/pb_flows.c \
             common/pb_fwd.c common/pb_forwarder.c \
             common/pb_component.c common/pb_merge.c common/pb_classify.c \
             common/pb_mirror.c common/pb_capture.c common/pb_version.c \
             common/pb_telemetry.c

PURE_OBJS := $(PURE_SRCS:%.c=$(BUILD)/%.o)
DPDK_OBJS := $(DPDK_SRCS:%.c=$(BUILD)/%.o)

PROGS := $(BUILD)/patchbay-primary $(BUILD)/patchbay-nfv $(BUILD)/patchbay-vf \
         $(BUILD)/patchbay-mirror $(BUILD)/patchbay-pcap $(BUILD)/pb-gen
# Unit tests of the shared-memory code link DPDK, but start no EAL.
DPDK_UNIT_TESTS := $(BUILD)/tests/test_counters
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all clean test test-unit test-integration fuzz fuzz-build \
        sanitize test-sanitize
all: $(PROGS)

# V=1 shows the full commands
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DPDK_CFLAGS) -c $< -o $@

$(BUILD)/patchbay-primary: $(BUILD)/primary/main.o $(BUILD)/primary/launch.o
$(BUILD)/patchbay-nfv: $(BUILD)/secondary/nfv.o $(BUILD)/secondary/secondary.o
$(BUILD)/patchbay-vf: $(BUILD)/secondary/components.o $(BUILD)/secondary/secondary.o
$(BUILD)/patchbay-mirror: $(BUILD)/secondary/mirror.o $(BUILD)/secondary/secondary.o
$(BUILD)/patchbay-pcap: $(BUILD)/secondary/pcap.o $(BUILD)/secondary/secondary.o
# the mirror is the components' source with only the mirror kind
$(BUILD)/secondary/mirror.o: secondary/components.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (mirror)")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DPDK_CFLAGS) -DPB_MIRROR -c $< -o $@
$(BUILD)/pb-gen: $(BUILD)/bench/pb_gen.o
# they print PB_VERSION
$(BUILD)/common/pb_version.o $(BUILD)/common/pb_ctl.o: controller/pbctl/__init__.py
$(PROGS): $(PURE_OBJS) $(DPDK_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DPDK_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(PURE_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

$(DPDK_UNIT_TESTS): $(BUILD)/tests/%: tests/unit/%.c $(PURE_OBJS) $(DPDK_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(DPDK_CFLAGS) -o $@ $(filter %.c %.o,$^) \
		$(DPDK_LIBS) $(LDLIBS) -lcmocka

test-unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

test-integration: all
	$(PYTHON) -m pytest -v tests/integration

test: test-unit test-integration

# libFuzzer: the pure parsers a process runs on every line it reads.
# FUZZ_SECONDS=3600 make fuzz for a long run; new inputs found go to
# $(BUILD)/fuzz/corpus-*, crashes to $(BUILD)/fuzz/crash-*.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -Icommon -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

FUZZ_SRCS := common/pb_uid.c common/pb_msg.c common/pb_patch.c common/pb_lcores.c common/pb_auth.c \
             common/pb_l2.c

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS) -ljansson -lcrypto

fuzz-build: $(FUZZERS)

fuzz: fuzz-build
	@set -e; for f in $(FUZZERS); do \
		name=$${f##*/fuzz_}; mkdir -p $(BUILD)/fuzz/corpus-$$name; \
		echo "== $$f: $(FUZZ_SECONDS) s"; \
		dict=tests/fuzz/$$name.dict; [ -f $$dict ] || dict=; \
		if ! $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		    -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/crash-$$name- \
		    $${dict:+-dict=$$dict} $(BUILD)/fuzz/corpus-$$name \
		    tests/fuzz/corpus/$$name > $(BUILD)/fuzz/$$name.log 2>&1; then \
			tail -60 $(BUILD)/fuzz/$$name.log; exit 1; \
		fi; \
		grep -E "stat::number_of_executed_units|DONE" $(BUILD)/fuzz/$$name.log; \
	done

# ASan+UBSan builds of the processes; the tests run them via PATCHBAY_BUILD.
# Leaks are reported for our code; DPDK's EAL keeps some memory until exit
# by design (tests/sanitizer/lsan.supp). The leak canary, a leak of ours
# under a DPDK frame, must be reported with the same options.
SAN_BUILD := $(CURDIR)/build-san
SAN_ASAN  := halt_on_error=1:detect_leaks=1:malloc_context_size=2
SAN_LSAN  := suppressions=$(CURDIR)/tests/sanitizer/lsan.supp

$(BUILD)/sanitizer/leak-canary: tests/sanitizer/leak_canary.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(DPDK_CFLAGS) -o $@ $< $(DPDK_LIBS)

sanitize:
	$(Q)$(MAKE) -s SANITIZE=1 BUILD=$(SAN_BUILD) all \
		$(SAN_BUILD)/sanitizer/leak-canary

test-sanitize: sanitize
	@if ASAN_OPTIONS=$(SAN_ASAN) LSAN_OPTIONS=$(SAN_LSAN) \
	    $(SAN_BUILD)/sanitizer/leak-canary 2> $(SAN_BUILD)/canary.log || \
	    ! grep -q "leak_in_callback" $(SAN_BUILD)/canary.log; then \
		cat $(SAN_BUILD)/canary.log; \
		echo "leak canary: our leak under a DPDK frame was not reported"; \
		exit 1; fi
	@echo "leak canary: reported, as it must be"
	@rm -f $(SAN_BUILD)/asan.* $(SAN_BUILD)/ubsan.*
	PATCHBAY_BUILD=$(SAN_BUILD) PB_RESTARTS=$${PB_RESTARTS:-10} \
	PATCHBAY_PRIMARY_EAL=--base-virtaddr=0x200000000000 \
	ASAN_OPTIONS=$(SAN_ASAN):log_path=$(SAN_BUILD)/asan \
	LSAN_OPTIONS=$(SAN_LSAN) \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_BUILD)/ubsan \
	$(PYTHON) -m pytest -q tests/integration $(SAN_TESTS)
	@if grep -l "ERROR: \|runtime error" $(SAN_BUILD)/asan.* $(SAN_BUILD)/ubsan.* \
	    2>/dev/null; then echo "sanitizer reports above"; \
	    grep -h -A30 "ERROR: \|runtime error" $(SAN_BUILD)/asan.* \
	    $(SAN_BUILD)/ubsan.* 2>/dev/null | head -200; exit 1; fi
	@echo "sanitizers: nothing reported"

# ---- install ----------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=...]; make uninstall removes
# exactly what it installed. The C programs go to BINDIR; the Python side,
# the guest tools and the run scripts keep the source tree's shape under
# PKGLIBDIR, whose build/ links to the programs, so the same code finds
# them installed or in this tree. docs/operations.md has the layout.
PREFIX         ?= /usr/local
BINDIR         ?= $(PREFIX)/bin
PKGLIBDIR      ?= $(PREFIX)/lib/patchbay
MANDIR         ?= $(PREFIX)/share/man
DOCDIR         ?= $(PREFIX)/share/doc/patchbay
SYSCONFDIR     ?= $(PREFIX)/etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

INSTALL_PROGS := patchbay-primary patchbay-nfv patchbay-vf patchbay-mirror \
                 patchbay-pcap
INSTALL_TOOLS := patchbay patchbay-ctl
INSTALL_TREE  := controller/patchbay controller/patchbay-ctl \
                 $(wildcard controller/pbctl/*.py controller/pbctl/ui/*) \
                 $(wildcard vm/*.py vm/*.sh) runscripts/panel \
                 runscripts/wakeup.py runscripts/demo.py \
                 runscripts/hugepages.sh conf.yml
INSTALL_MAN   := $(wildcard docs/man/*.[18])
INSTALL_DOCS  := README.md $(wildcard docs/*.md docs/*.svg)
INSTALL_UNITS := $(patsubst dist/systemd/%.in,%,$(wildcard dist/systemd/*.in))
INSTALL_ETC   := patchbay/conf.yml patchbay/patchbay.env

.PHONY: install uninstall
install: all
	@set -e; d='$(DESTDIR)'; \
	for p in $(INSTALL_PROGS); do \
		install -D -m 755 $(BUILD)/$$p $$d$(BINDIR)/$$p; \
		mkdir -p $$d$(PKGLIBDIR)/build; \
		ln -sfr $$d$(BINDIR)/$$p $$d$(PKGLIBDIR)/build/$$p; \
	done; \
	install -D -m 755 $(BUILD)/pb-gen $$d$(PKGLIBDIR)/build/pb-gen; \
	for f in $(INSTALL_TREE); do \
		mode=644; [ -x $$f ] && mode=755; \
		install -D -m $$mode $$f $$d$(PKGLIBDIR)/$$f; \
	done; \
	for t in $(INSTALL_TOOLS); do \
		ln -sfr $$d$(PKGLIBDIR)/controller/$$t $$d$(BINDIR)/$$t; \
	done; \
	for m in $(INSTALL_MAN); do \
		install -D -m 644 $$m $$d$(MANDIR)/man$${m##*.}/$${m##*/}; \
	done; \
	for f in $(INSTALL_DOCS); do \
		install -D -m 644 $$f $$d$(DOCDIR)/$$f; \
	done; \
	for u in $(INSTALL_UNITS); do \
		mkdir -p $$d$(SYSTEMDUNITDIR); \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' \
		    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' dist/systemd/$$u.in \
		    > $$d$(SYSTEMDUNITDIR)/$$u; \
		chmod 644 $$d$(SYSTEMDUNITDIR)/$$u; \
	done; \
	install -D -m 644 conf.yml $$d$(SYSCONFDIR)/patchbay/conf.yml; \
	install -D -m 644 dist/patchbay.env $$d$(SYSCONFDIR)/patchbay/patchbay.env

# PKGLIBDIR whole: Python leaves its bytecode there when the tools run
uninstall:
	@set -e; d='$(DESTDIR)'; \
	for p in $(INSTALL_PROGS) $(INSTALL_TOOLS); do rm -f $$d$(BINDIR)/$$p; done; \
	rm -rf $$d$(PKGLIBDIR) $$d$(DOCDIR); \
	for m in $(INSTALL_MAN); do rm -f $$d$(MANDIR)/man$${m##*.}/$${m##*/}; done; \
	for u in $(INSTALL_UNITS); do rm -f $$d$(SYSTEMDUNITDIR)/$$u; done; \
	for e in $(INSTALL_ETC); do rm -f $$d$(SYSCONFDIR)/$$e; done; \
	rmdir $$d$(SYSCONFDIR)/patchbay 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(SAN_BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
