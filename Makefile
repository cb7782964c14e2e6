# patchbay: `make` builds build/patchbay-primary and build/patchbay-nfv.
#   make test-unit   C unit tests (cmocka), no hugepages needed
#   make test        everything: unit tests, then the integration tests

BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3

DPDK_CFLAGS := $(shell pkg-config --cflags libdpdk)
DPDK_LIBS   := $(shell pkg-config --libs libdpdk)

CFLAGS  ?= -O3 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Icommon -MMD -MP
LDLIBS  += -lrte_bus_vdev -lpcap -ljansson -lpthread

# Pure C pieces: no DPDK, shared with the unit tests and fuzzers.
PURE_SRCS := common/pb_uid.c common/pb_msg.c common/pb_patch.c common/pb_ctl.c
DPDK_SRCS := common/pb_shared.c common/pb_port.c common/pb_vhost.c common/pb_pcap.c \
             common/pb_shm.c \
             common/pb_fwd.c common/pb_forwarder.c

PURE_OBJS := $(PURE_SRCS:%.c=$(BUILD)/%.o)
DPDK_OBJS := $(DPDK_SRCS:%.c=$(BUILD)/%.o)

PROGS := $(BUILD)/patchbay-primary $(BUILD)/patchbay-nfv $(BUILD)/pb-gen
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all clean test test-unit test-integration
all: $(PROGS)

# V=1 shows the full commands
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(DPDK_CFLAGS) -c $< -o $@

$(BUILD)/patchbay-primary: $(BUILD)/primary/main.o $(BUILD)/primary/launch.o
$(BUILD)/patchbay-nfv: $(BUILD)/secondary/main.o
$(BUILD)/pb-gen: $(BUILD)/bench/pb_gen.o
$(PROGS): $(PURE_OBJS) $(DPDK_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(DPDK_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(PURE_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

test-unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

test-integration: all
	$(PYTHON) -m pytest -v tests/integration

test: test-unit test-integration

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
