/* Cortex-M4 harness (QEMU mps2-an386): runs the generated model on the views embedded in
 * astrotinyml_edge_views.c, each between atm_mark_begin() and atm_mark_end(), whose entry
 * addresses the QEMU instruction-counting plugin watches; prints the int8 outputs in hex over
 * semihosting and exits through semihosting. */
#include <stdint.h>
#include "astrotinyml_edge_model.h"

extern const int8_t atm_views[][ATM_EDGE_INPUT_BYTES];
extern const int atm_n_views;

/* Semihosting call (ARM semihosting: BKPT 0xAB in Thumb state). */
static int semihost(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static void put(const char *s) { semihost(0x04, s); /* SYS_WRITE0 */ }

/* Not inlined and kept: the plugin counts instructions from one entry to the other. */
__attribute__((noinline, used)) void atm_mark_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline, used)) void atm_mark_end(void) { __asm__ volatile("" ::: "memory"); }

int main(void) {
  static int8_t out[ATM_EDGE_OUTPUT_BYTES];
  static char line[8 + 3 * ATM_EDGE_OUTPUT_BYTES];
  static const char hex[] = "0123456789abcdef";
  /* An empty pair first: the plugin's per-pair overhead, subtracted from every inference. */
  atm_mark_begin();
  atm_mark_end();
  for (int v = 0; v < atm_n_views; ++v) {
    atm_mark_begin();
    atm_edge_invoke(atm_views[v], out);
    atm_mark_end();
    int k = 0;
    line[k++] = 'o'; line[k++] = 'u'; line[k++] = 't';
    for (int i = 0; i < ATM_EDGE_OUTPUT_BYTES; ++i) {
      uint8_t b = (uint8_t)out[i];
      line[k++] = ' '; line[k++] = hex[b >> 4]; line[k++] = hex[b & 15];
    }
    line[k++] = '\n'; line[k] = 0;
    put(line);
  }
  return 0;
}
