# trit - build, test and run.
#   make            builds build/trit (and build/libtrit.a)
#   make run        builds and generates text with the bundled default model
#   make test       installs what the tests need, builds (also with ASan/UBSan) and runs every test
#
# Layout rule: every src/*/*.c goes into libtrit.a (libc + libm + pthreads only),
# except files named *_pcre2.c, which use PCRE2 and are linked into the tools only.

CC      ?= cc
OPT     ?= -O3
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
BASEFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -pthread $(WARN)
LDLIBS  := -lm -pthread
PCRE2_LIBS := $(shell pkg-config --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)

BUILD   ?= build
LIB_SRC   := $(filter-out %_pcre2.c,$(wildcard src/*/*.c))
TOOL_LIB_SRC := $(wildcard src/*/*_pcre2.c)
TOOL_SRC  := $(wildcard tools/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOLLIB_OBJ := $(TOOL_LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

# Per-ISA kernel files get their own flags; the dispatcher picks at run time.
$(BUILD)/src/kernels/%_avx2.o:   ISAFLAGS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine)),-mavx2 -mfma -mf16c)
$(BUILD)/src/kernels/%_avx512.o: ISAFLAGS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine)),-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq -mavx2 -mfma -mf16c)
# AArch64: NEON is base (no flag); the dotprod kernel file gets the extension.
$(BUILD)/src/kernels/%_neon_dotprod.o: ISAFLAGS := $(if $(filter aarch64% arm64%,$(shell $(CC) -dumpmachine)),-march=armv8.2-a+dotprod)
$(BUILD)/src/kernels/%_avxvnni.o: ISAFLAGS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine)),-mavx2 -mfma -mf16c -mavxvnni)
$(BUILD)/src/nn/%_avx2.o:   ISAFLAGS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine)),-mavx2 -mfma -mf16c)
$(BUILD)/src/nn/%_avx512.o: ISAFLAGS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine)),-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq -mavx2 -mfma -mf16c)
$(BUILD)/src/train/%_avx2.o:   ISAFLAGS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine)),-mavx2 -mfma -mf16c)
$(BUILD)/src/train/%_avx512.o: ISAFLAGS := $(if $(findstring x86_64,$(shell $(CC) -dumpmachine)),-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512dq -mavx2 -mfma -mf16c)

.PHONY: all run test clean deps asan bench cross-aarch64
all: $(BUILD)/trit

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(ISAFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtrit.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libtrit_tools.a: $(TOOLLIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(if $(TOOLLIB_OBJ),ar rcs $@ $^,printf '!<arch>\n' > $@)

$(BUILD)/trit: $(TOOL_OBJ) $(BUILD)/libtrit_tools.a $(BUILD)/libtrit.a
	$(CC) $(CFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libtrit_tools.a $(BUILD)/libtrit.a $(PCRE2_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/tt.h $(BUILD)/libtrit_tools.a $(BUILD)/libtrit.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libtrit_tools.a $(BUILD)/libtrit.a $(PCRE2_LIBS) $(LDLIBS)

tests-bin: $(TEST_BIN) $(BUILD)/trit

# ---- dependencies (Debian) -------------------------------------------------
deps:
	@sh tests/deps.sh

# ---- run / test --------------------------------------------------------------
# The default model: a 15.7M-parameter ternary model trained by trit on Tiny Shakespeare + KJV
# (models/default/README.md has the commands that reproduce it).
RUN_MODEL ?= models/default
run: deps $(BUILD)/trit
	$(BUILD)/trit generate -m $(RUN_MODEL) -p "$(or $(PROMPT),ROMEO:)" -n $(or $(N),120) --temp 0.8 --top-k 40 --seed $(or $(SEED),42)

asan:
	$(MAKE) BUILD=build-asan CC=$(CC) OPT=-O1 \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" tests-bin

test: deps
	@sh tests/fetch_tokenizers.sh || echo "tokenizer files unavailable: the real-tokenizer tests will print SKIP"
	$(MAKE) tests-bin
	$(MAKE) asan
	@sh tests/run_tests.sh

bench: $(BUILD)/trit $(BUILD)/bench_kernels $(BUILD)/bench_head $(BUILD)/bench_tokenize $(BUILD)/bench_train $(BUILD)/bench_tpack $(BUILD)/bench_binary $(BUILD)/bench_pool

$(BUILD)/bench_tpack: bench/bench_tpack.c $(BUILD)/libtrit.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtrit.a $(LDLIBS)

$(BUILD)/bench_kernels: bench/bench_kernels.c $(BUILD)/libtrit.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtrit.a $(LDLIBS)

$(BUILD)/bench_binary: bench/bench_binary.c $(BUILD)/libtrit.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtrit.a $(LDLIBS)

$(BUILD)/bench_head: bench/bench_head.c $(BUILD)/libtrit.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtrit.a $(LDLIBS)

$(BUILD)/bench_pool: bench/bench_pool.c $(BUILD)/libtrit.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtrit.a $(LDLIBS)

$(BUILD)/bench_train: bench/bench_train.c $(BUILD)/libtrit.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtrit.a $(LDLIBS)

$(BUILD)/bench_tokenize: bench/bench_tokenize.c $(BUILD)/libtrit_tools.a $(BUILD)/libtrit.a
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtrit_tools.a $(BUILD)/libtrit.a $(PCRE2_LIBS) $(LDLIBS)

# ---- AArch64 cross build (run under qemu-user by tests/cross_aarch64.sh) -----
# The core library and the tests that need only it, built with the Debian
# cross compiler for plain armv8-a (the dotprod kernel file adds its flag).
CROSS_CC    ?= aarch64-linux-gnu-gcc
CROSS_BUILD ?= build-aarch64
CROSS_TESTS := test_isa test_threads test_kernels test_models test_badinput test_json test_safetensors test_train test_binary test_tpack
cross-aarch64:
	$(MAKE) CC=$(CROSS_CC) BUILD=$(CROSS_BUILD) CFLAGS="-O2 -g -march=armv8-a" $(CROSS_TESTS:%=$(CROSS_BUILD)/core-tests/%)

# A test program linked with the core library only (no PCRE2).
$(BUILD)/core-tests/%: tests/%.c tests/tt.h $(BUILD)/libtrit.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libtrit.a $(LDLIBS)

clean:
	rm -rf build build-asan $(CROSS_BUILD)

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TOOLLIB_OBJ:.o=.d)
