/*
 * insnprof: a QEMU TCG plugin that counts the guest instructions executed
 * at each translation block's start address, for armos's instruction
 * profiles (microkernel/guesttest: BenchmarkTCPGuestInsnProfile and
 * cmd/insnprof, which reads what this writes).
 *
 * Built by the benchmark with the host's C compiler:
 *
 *     cc -shared -fPIC -O2 -o insnprof.so insnprof.c -lpthread
 *     qemu-system-aarch64 ... -plugin ./insnprof.so,out=/tmp/prof
 *
 * Every block gets an inline counter (QEMU adds 1 each time the block runs:
 * no call out of the generated code). The plugin cannot be asked over QEMU's
 * monitor, so a thread watches for the file OUT.req: when it appears, the
 * plugin writes a snapshot of every counter to OUT.N (N counting from 0) as
 * lines "vaddr-hex insns-per-run runs", then renames OUT.N.tmp into place
 * and removes OUT.req. Snapshots are cumulative; the reader subtracts two.
 * When QEMU exits (the guest powered off) a last one goes to OUT.final.
 *
 * The plugin API is declared here (QEMU 7.2's, API version 1), as Debian
 * ships no qemu-plugin.h: only the calls used below, by their documented
 * signatures.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

extern void qemu_plugin_register_vcpu_tb_trans_cb(
    qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
extern uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern void qemu_plugin_register_vcpu_tb_exec_inline(
    struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
extern void qemu_plugin_register_atexit_cb(
    qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t, void *), void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One counter per translated block. A block translated again (the cache
 * flushed, another address space) gets another record; the reader sums
 * records by address. Records are allocated in slabs and never freed. */
struct block {
	uint64_t vaddr;
	uint64_t insns;
	uint64_t runs; /* incremented by the generated code */
};

enum { slabBlocks = 65536 };

struct slab {
	struct block b[slabBlocks];
	size_t n;
	struct slab *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab *slabs;
static char *out;

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	pthread_mutex_lock(&lock);
	if (slabs == NULL || slabs->n == slabBlocks) {
		struct slab *s = calloc(1, sizeof *s);
		if (s == NULL) {
			pthread_mutex_unlock(&lock);
			return; /* out of memory: this block goes uncounted */
		}
		s->next = slabs;
		slabs = s;
	}
	struct block *b = &slabs->b[slabs->n++];
	b->vaddr = qemu_plugin_tb_vaddr(tb);
	b->insns = qemu_plugin_tb_n_insns(tb);
	pthread_mutex_unlock(&lock);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->runs, 1);
}

/* snapshot writes every record with runs to OUT.suffix. */
static void snapshot(const char *suffix)
{
	size_t len = strlen(out) + strlen(suffix) + 8;
	char *tmp = malloc(len), *final = malloc(len);
	if (tmp == NULL || final == NULL) {
		free(tmp);
		free(final);
		return;
	}
	snprintf(tmp, len, "%s.%s.tmp", out, suffix);
	snprintf(final, len, "%s.%s", out, suffix);
	FILE *f = fopen(tmp, "w");
	if (f != NULL) {
		pthread_mutex_lock(&lock);
		for (struct slab *s = slabs; s != NULL; s = s->next) {
			for (size_t i = 0; i < s->n; i++) {
				/* A racy read of a counter the vCPU thread adds to: an
				 * aligned 64-bit load, so never torn on the hosts we use. */
				uint64_t runs = __atomic_load_n(&s->b[i].runs, __ATOMIC_RELAXED);
				if (runs != 0) {
					fprintf(f, "%llx %llu %llu\n", (unsigned long long)s->b[i].vaddr,
					        (unsigned long long)s->b[i].insns, (unsigned long long)runs);
				}
			}
		}
		pthread_mutex_unlock(&lock);
		fclose(f);
		rename(tmp, final);
	}
	free(tmp);
	free(final);
}

static void *watch(void *arg)
{
	(void)arg;
	size_t len = strlen(out) + 8;
	char *req = malloc(len);
	if (req == NULL) {
		return NULL;
	}
	snprintf(req, len, "%s.req", out);
	for (int n = 0;; ) {
		if (access(req, F_OK) == 0) {
			char suffix[16];
			snprintf(suffix, sizeof suffix, "%d", n++);
			snapshot(suffix);
			unlink(req);
		}
		usleep(2000);
	}
	return NULL;
}

/* at_exit writes OUT.final as QEMU exits (the guest powered off). */
static void at_exit(qemu_plugin_id_t id, void *userdata)
{
	(void)id;
	(void)userdata;
	snapshot("final");
}

__attribute__((visibility("default"))) int qemu_plugin_install(
    qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "out=", 4) == 0) {
			out = strdup(argv[i] + 4);
		}
	}
	if (out == NULL) {
		fprintf(stderr, "insnprof: give out=PATH\n");
		return -1;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, watch, NULL) != 0) {
		return -1;
	}
	pthread_detach(t);
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
