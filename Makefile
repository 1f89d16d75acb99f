# Lodestar — build, test, bench.
#   make            deps + build/lodestar (-O2, warnings are errors)
#   make deps       install the Debian packages the build and tests need
#   make test       deps + build + unit tests + unit tests under ASan/UBSan + e2e tests
#   make bench      deps + build + the benchmarks (never part of make test)
#   make quickstart deps + build + `lodestar quickstart`
#   make format     rewrite every C file as .clang-format says (make format-check: only check)
#   make install    build/lodestar, its man page and lodestar.service under $(DESTDIR)$(PREFIX)
#   make deb        build/lodestar_<version>_<arch>.deb (dpkg-deb; scripts/deb.sh)
#
# The top-level targets install what is missing first and then build in a
# new make invocation: pkg-config is asked only once the packages are there
# (it is asked lazily, when a compile or link first needs its answer), and
# -j can never race a compile against `make deps`. File targets
# (build/lodestar, build/tests/...) may be made directly once deps are in.

# make's built-in default is `cc`; gcc unless the caller chose (make CC=clang).
ifeq ($(origin CC),default)
CC       := gcc
endif
PKGS     := libmicrohttpd jansson sqlite3 rdkafka libcrypto zlib liblz4 libzstd avro-c libprotobuf-c libpq
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wno-format-nonliteral -Werror
# snprintf truncation is intended wherever it is used; clang has no such warning.
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),clang)
WARN     += -Wno-format-truncation
endif
BASEFLAGS := -std=c11 -D_GNU_SOURCE -Isrc -g -pthread $(WARN)
CFLAGS   ?= -O2

# pkg-config's answer for all of PKGS, or a stop naming the missing ones.
pkgconf = $(or $(shell pkg-config $(1) $(PKGS) 2>/dev/null),$(error pkg-config cannot find \
  $(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,$(p))) (its .pc file \
  comes with the matching -dev package); run `make deps` (scripts/deps.sh) to install them))
# Memoised on first use: asked once per make invocation, and only when needed.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkgconf,--cflags))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(call pkgconf,--libs))$(PKG_LIBS)
LDLIBS     = $(PKG_LIBS) -lroaring -lcurl -lm -lpthread
# The ENOSPC shim (tests/enospc/) looks up libc's functions with dlsym.
TEST_LIBS := -ldl

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
HDRS     := $(shell find src tests/unit -name '*.h')
# Each object and test depends on the headers it includes, as the compiler lists them
# (-MMD -MP: build/**/*.d, read below), not on every header.
DEPFLAGS := -MMD -MP
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

# The web console's files, embedded in the binary (scripts/embed_console.py, api/console.c).
CONSOLE_FILES := $(sort $(shell find web/console -type f ! -name '.*' ! -name '*~'))
CONSOLE_C     := build/gen/api/console_assets.c

OBJ      := $(patsubst src/%.c,build/obj/%.o,$(LIB_SRC)) build/obj/api/console_assets.o
UNIT_BIN := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))

SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_OBJ := $(patsubst src/%.c,build/asan/obj/%.o,$(LIB_SRC)) build/asan/obj/api/console_assets.o
ASAN_BIN := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))

TSAN     := -fsanitize=thread -fno-omit-frame-pointer
TSAN_OBJ := $(patsubst src/%.c,build/tsan/obj/%.o,$(LIB_SRC)) build/tsan/obj/api/console_assets.o

.PHONY: all deps test bench quickstart unit unit-asan tsan fuzz clean format format-check
.PHONY: install deb
.PHONY: _all _test _bench _quickstart _unit _unit-asan _tsan

# ---- top-level targets: deps first, then a fresh make ---------------------------------
all test bench quickstart unit unit-asan tsan: deps
	@$(MAKE) --no-print-directory _$@

deps:
	@bash scripts/deps.sh

_all: build/lodestar
_unit: $(UNIT_BIN) build/tests/libenospc.so
_unit-asan: $(ASAN_BIN) build/asan/lodestar build/tests/libenospc.so
_tsan: build/tsan/lodestar

_test:
	@$(MAKE) --no-print-directory -j$$(nproc) _all _unit _unit-asan _tsan
	@bash tests/run.sh

_bench: build/lodestar
	@bash bench/run.sh

_quickstart: build/lodestar
	./build/lodestar quickstart

# ---- install and package ---------------------------------------------------------------
PREFIX  ?= /usr/local
BINDIR  := $(PREFIX)/bin
MANDIR  := $(PREFIX)/share/man/man1
UNITDIR := $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)

install: build/lodestar
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 build/lodestar $(DESTDIR)$(BINDIR)/lodestar
	gzip -9n < packaging/lodestar.1 > $(DESTDIR)$(MANDIR)/lodestar.1.gz
	chmod 0644 $(DESTDIR)$(MANDIR)/lodestar.1.gz
	sed 's|@BINDIR@|$(BINDIR)|' packaging/lodestar.service > $(DESTDIR)$(UNITDIR)/lodestar.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/lodestar.service

deb: build/lodestar
	@bash scripts/deb.sh

# ---- files ---------------------------------------------------------------------------
build/obj/%.o: src/%.c build/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(DEPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(CONSOLE_C): scripts/embed_console.py $(CONSOLE_FILES)
	@mkdir -p $(dir $@)
	python3 scripts/embed_console.py web/console $@

# Data only: compiled without the sanitizers (nothing to instrument) and once for all builds.
build/obj/api/console_assets.o build/asan/obj/api/console_assets.o build/tsan/obj/api/console_assets.o: $(CONSOLE_C) src/api/api_int.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

build/liblodestar.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

build/lodestar: build/obj/main.o build/liblodestar.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/tests/%: tests/unit/%.c build/tests/%.d build/liblodestar.a tests/enospc/enospc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(DEPFLAGS) $(CFLAGS) -Itests/unit $(PKG_CFLAGS) -o $@ $< build/liblodestar.a $(LDLIBS) $(TEST_LIBS)

# A full disk on demand, preloaded into the server by tests/e2e/test_diskfull.py. Never
# instrumented: under ASan it runs ahead of the sanitizer's own interceptors.
build/tests/libenospc.so: tests/enospc/enospc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -shared -fPIC -o $@ $< -ldl

build/asan/obj/%.o: src/%.c build/asan/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(DEPFLAGS) -O1 $(SAN) $(PKG_CFLAGS) -c $< -o $@

build/asan/liblodestar.a: $(ASAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/asan/lodestar: build/asan/obj/main.o build/asan/liblodestar.a
	$(CC) $(BASEFLAGS) -O1 $(SAN) -o $@ $^ $(LDLIBS)

build/asan/tests/%: tests/unit/%.c build/asan/tests/%.d build/asan/liblodestar.a tests/enospc/enospc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(DEPFLAGS) -O1 $(SAN) -Itests/unit $(PKG_CFLAGS) -o $@ $< build/asan/liblodestar.a $(LDLIBS) $(TEST_LIBS)

# The server under ThreadSanitizer, for the streaming, push and API suites.
build/tsan/obj/%.o: src/%.c build/tsan/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(DEPFLAGS) -O1 $(TSAN) $(PKG_CFLAGS) -c $< -o $@

build/tsan/liblodestar.a: $(TSAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

# tests/sanitizers/tsan_c11threads.c: librdkafka's C11 threads and locks, made visible to TSan.
build/tsan/lodestar: build/tsan/obj/main.o build/tsan/liblodestar.a tests/sanitizers/tsan_c11threads.c
	$(CC) $(BASEFLAGS) -O1 $(TSAN) -o $@ $^ $(LDLIBS)

# The header dependencies the compiler wrote. Named explicitly (not intermediate), a missing
# .d — a clean tree, or objects built before dependency files — counts as changed, so its
# target is rebuilt and writes one.
DEPFILES := $(patsubst %.o,%.d,$(OBJ) $(ASAN_OBJ) $(TSAN_OBJ) build/obj/main.o \
              build/asan/obj/main.o build/tsan/obj/main.o) $(UNIT_BIN:=.d) $(ASAN_BIN:=.d)
$(DEPFILES):
-include $(wildcard $(DEPFILES))

fuzz:
	@bash tests/fuzz/run.sh

# ---- formatting ------------------------------------------------------------------------
# .clang-format describes the code as it is written; `make format` applies it and
# `make format-check` (part of make test, via tests/run.sh) fails when a file differs from it.
# Every C file in the tree is ours and covered: src/, tests/ (unit tests, fuzz targets, the
# ENOSPC and TSan shims) and bench/. Nothing is vendored; the one generated file pair
# (src/format/pbdesc.pb-c.[ch], scripts/gen_pbdesc.sh) is formatted like the rest, so nothing is left out;
# tables whose layout carries meaning (word lists, test-case arrays) are fenced with
# `// clang-format off` / `// clang-format on` where they are.
# The tree is formatted by clang-format 14 (Debian 12's `clang-format`, installed by make deps);
# other versions break some lines differently. CLANG_FORMAT=clang-format-14 picks one by name.
CLANG_FORMAT ?= $(if $(shell command -v clang-format-14 2>/dev/null),clang-format-14,clang-format)
# (not the C files of npm packages that make deps installs under tests/ and bench/)
FMT_SRC  := $(sort $(shell find src tests bench -name node_modules -prune -o -name '*.[ch]' -print))
define need_clang_format
	@command -v $(CLANG_FORMAT) >/dev/null 2>&1 || { echo "$@: error: '$(CLANG_FORMAT)' not found;" \
	  "install it with \`make deps\` (scripts/deps.sh: Debian package clang-format) or" \
	  "\`sudo apt-get install clang-format\`, or name one with make $@ CLANG_FORMAT=..." >&2; \
	  echo "format: 0 passed, 1 failed"; exit 1; }
endef

format:
	$(need_clang_format)
	$(CLANG_FORMAT) -i $(FMT_SRC)

# One line per file that `make format` would change, then a "N passed, N failed" summary
# (tests/run.sh adds it up). Fails, never skips, when clang-format is missing or cannot run.
format-check:
	$(need_clang_format)
	@out=$$($(CLANG_FORMAT) --dry-run --Werror $(FMT_SRC) 2>&1); rc=$$?; \
	 bad=$$(printf '%s\n' "$$out" | sed -n 's/^\([^ :][^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u); \
	 nbad=$$(printf '%s' "$$bad" | grep -c .); \
	 if [ $$rc -ne 0 ] && [ $$nbad -eq 0 ]; then printf '%s\n' "$$out" | head -n 20; \
	   echo "$@: $(CLANG_FORMAT) failed (exit $$rc) before checking; see above (.clang-format valid?)"; \
	   echo "format: 0 passed, 1 failed"; exit 1; fi; \
	 for f in $$bad; do echo "$@: FAIL $$f is not formatted as .clang-format says; run \`make format\`" \
	   "and commit the result (to see the change: $(CLANG_FORMAT) $$f | diff $$f -)"; done; \
	 if [ $$nbad -ne 0 ]; then v=$$($(CLANG_FORMAT) --version); case "$$v" in *" version 14."*) ;; \
	   *) echo "$@: note: the tree is formatted with clang-format 14 and this is $$v;" \
	        "install clang-format-14 and run make $@ CLANG_FORMAT=clang-format-14";; esac; fi; \
	 echo "format: $$(( $(words $(FMT_SRC)) - nbad )) passed, $$nbad failed"; [ $$nbad -eq 0 ]

clean:
	rm -rf build
