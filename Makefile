# Lodestar — build, test, bench.
#   make            build/lodestar (-O2, warnings are errors)
#   make deps       install the Debian packages the build and tests need
#   make test       deps + build + unit tests + unit tests under ASan/UBSan + e2e tests
#   make bench      the benchmarks (never part of make test)
#   make quickstart deps + build + `lodestar quickstart`

CC       ?= gcc
PKGS     := libmicrohttpd jansson sqlite3 rdkafka libcrypto zlib liblz4 libzstd
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wno-format-nonliteral -Werror
# snprintf truncation is intended wherever it is used; clang has no such warning.
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),clang)
WARN     += -Wno-format-truncation
endif
BASEFLAGS := -std=c11 -D_GNU_SOURCE -Isrc -g -pthread $(WARN)
CFLAGS   ?= -O2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS   := $(PKG_LIBS) -lroaring -lcurl -lm -lpthread
# The ENOSPC shim (tests/enospc/) looks up libc's functions with dlsym.
TEST_LIBS := -ldl

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
HDRS     := $(shell find src tests/unit -name '*.h')
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

OBJ      := $(patsubst src/%.c,build/obj/%.o,$(LIB_SRC))
UNIT_BIN := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))

SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_OBJ := $(patsubst src/%.c,build/asan/obj/%.o,$(LIB_SRC))
ASAN_BIN := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))

.PHONY: all deps test unit unit-asan e2e fuzz bench quickstart clean format
all: build/lodestar

deps:
	@bash scripts/deps.sh

build/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

build/liblodestar.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

build/lodestar: build/obj/main.o build/liblodestar.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/tests/%: tests/unit/%.c build/liblodestar.a $(HDRS) tests/enospc/enospc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Itests/unit $(PKG_CFLAGS) -o $@ $< build/liblodestar.a $(LDLIBS) $(TEST_LIBS)

# A full disk on demand, preloaded into the server by tests/e2e/test_diskfull.py. Never
# instrumented: under ASan it runs ahead of the sanitizer's own interceptors.
build/tests/libenospc.so: tests/enospc/enospc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -shared -fPIC -o $@ $< -ldl

build/asan/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 $(SAN) $(PKG_CFLAGS) -c $< -o $@

build/asan/liblodestar.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/lodestar: build/asan/obj/main.o build/asan/liblodestar.a
	$(CC) $(BASEFLAGS) -O1 $(SAN) -o $@ $^ $(LDLIBS)

build/asan/tests/%: tests/unit/%.c build/asan/liblodestar.a $(HDRS) tests/enospc/enospc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 $(SAN) -Itests/unit $(PKG_CFLAGS) -o $@ $< build/asan/liblodestar.a $(LDLIBS) $(TEST_LIBS)

unit: $(UNIT_BIN) build/tests/libenospc.so
unit-asan: $(ASAN_BIN) build/asan/lodestar build/tests/libenospc.so

test: deps
	@$(MAKE) --no-print-directory -j$$(nproc) all unit unit-asan
	@bash tests/run.sh

fuzz:
	@bash tests/fuzz/run.sh

bench: deps all
	@bash bench/run.sh

quickstart: deps all
	./build/lodestar quickstart

format:
	clang-format -i $(SRC) $(HDRS)

clean:
	rm -rf build
