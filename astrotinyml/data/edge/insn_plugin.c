/* QEMU TCG plugin: instructions executed between entries of two guest addresses.
 *
 * Debian's QEMU 7.2 supports plugins but ships neither the contrib plugins (libinsn.so) nor
 * qemu-plugin.h, so the few functions used are declared here from QEMU's stable plugin API
 * (include/qemu/qemu-plugin.h, API version 1).  Arguments: begin=<hex addr>,end=<hex addr>.
 * Every translated block adds its instruction count (and its loads, stores, branches and
 * multiplies, classified from QEMU's disassembly) to counters inline; entering `begin`
 * snapshots the counters, entering `end` prints the differences:
 *   atm-insns <insns> <loads> <stores> <branches> <muls> <ldm_stm_regs>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum { N_INSN, N_LOAD, N_STORE, N_BRANCH, N_MUL, N_MULTI_REGS, N_COUNTERS };
static uint64_t counters[N_COUNTERS];
static uint64_t snapshot[N_COUNTERS];
static uint64_t begin_addr, end_addr;

static void on_begin(unsigned int vcpu, void *u) {
  (void)vcpu; (void)u;
  memcpy(snapshot, counters, sizeof counters);
}

static void on_end(unsigned int vcpu, void *u) {
  char buf[256];
  (void)vcpu; (void)u;
  snprintf(buf, sizeof buf, "atm-insns %llu %llu %llu %llu %llu %llu\n",
           (unsigned long long)(counters[N_INSN] - snapshot[N_INSN]),
           (unsigned long long)(counters[N_LOAD] - snapshot[N_LOAD]),
           (unsigned long long)(counters[N_STORE] - snapshot[N_STORE]),
           (unsigned long long)(counters[N_BRANCH] - snapshot[N_BRANCH]),
           (unsigned long long)(counters[N_MUL] - snapshot[N_MUL]),
           (unsigned long long)(counters[N_MULTI_REGS] - snapshot[N_MULTI_REGS]));
  qemu_plugin_outs(buf);
}

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Registers in a register list "{r4, r5, lr}" (LDM/STM/PUSH/POP). */
static int n_regs(const char *s) {
  const char *a = strchr(s, '{'), *b = a ? strchr(a, '}') : NULL;
  int n = 1;
  if (!a || !b) return 0;
  for (const char *p = a; p < b; ++p) {
    if (*p == ',') ++n;
    if (*p == '-') n += 2;   /* a range r4-r7 counts roughly as its ends and one between */
  }
  return n;
}

static void classify(const char *d, uint64_t c[N_COUNTERS]) {
  const char *m = d;
  while (*m == ' ') ++m;
  c[N_INSN]++;
  if (starts(m, "ldm") || starts(m, "pop")) { c[N_LOAD]++; c[N_MULTI_REGS] += n_regs(m);
    if (strstr(m, "pc")) c[N_BRANCH]++; return; }
  if (starts(m, "stm") || starts(m, "push")) { c[N_STORE]++; c[N_MULTI_REGS] += n_regs(m); return; }
  if (starts(m, "ldr") || starts(m, "vldr")) { c[N_LOAD]++; if (strstr(m, "pc,") == m + 4) c[N_BRANCH]++; return; }
  if (starts(m, "str") || starts(m, "vstr")) { c[N_STORE]++; return; }
  if (starts(m, "mul") || starts(m, "mla") || starts(m, "mls") || starts(m, "smul") || starts(m, "smla") ||
      starts(m, "smlal") || starts(m, "umul") || starts(m, "umla") || starts(m, "smmul") || starts(m, "smmla") ||
      starts(m, "sdiv") || starts(m, "udiv")) { c[N_MUL]++; return; }
  if ((m[0] == 'b' && !starts(m, "bic") && !starts(m, "bfi") && !starts(m, "bfc") && !starts(m, "bkpt")) ||
      starts(m, "cbz") || starts(m, "cbnz") || starts(m, "tbb") || starts(m, "tbh")) { c[N_BRANCH]++; return; }
}

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  uint64_t pc = qemu_plugin_tb_vaddr(tb);
  size_t n = qemu_plugin_tb_n_insns(tb);
  uint64_t c[N_COUNTERS] = {0};
  if (pc == begin_addr) qemu_plugin_register_vcpu_tb_exec_cb(tb, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
  if (pc == end_addr) qemu_plugin_register_vcpu_tb_exec_cb(tb, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
  for (size_t i = 0; i < n; ++i) {
    char *d = qemu_plugin_insn_disas(qemu_plugin_tb_get_insn(tb, i));
    classify(d ? d : "", c);
    free(d);
  }
  for (int k = 0; k < N_COUNTERS; ++k)
    if (c[k]) qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &counters[k], c[k]);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc, char **argv) {
  (void)info;
  for (int i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "begin=", 6) == 0) begin_addr = strtoull(argv[i] + 6, NULL, 0);
    else if (strncmp(argv[i], "end=", 4) == 0) end_addr = strtoull(argv[i] + 4, NULL, 0);
  }
  if (!begin_addr || !end_addr) {
    fprintf(stderr, "atm-insns plugin: needs begin=<addr>,end=<addr>\n");
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
  return 0;
}
