/* Minimal Cortex-M4 start-up for QEMU's mps2-an386: vector table, .data copy, .bss zeroing,
 * main(), then semihosting SYS_EXIT (ADP_Stopped_ApplicationExit) so QEMU ends with main's status. */
#include <stddef.h>
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

static void semihost_exit(int status) {
  /* SYS_EXIT with ADP_Stopped_ApplicationExit (0x20026) exits QEMU with status 0; a fault or a
   * failing main reports ADP_Stopped_RunTimeErrorUnknown (0x20023), which QEMU exits with 1. */
  register int r0 __asm__("r0") = 0x18;
  register int r1 __asm__("r1") = status == 0 ? 0x20026 : 0x20023;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  for (;;) {}
}

void Reset_Handler(void) {
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  semihost_exit(main());
}

void Fault_Handler(void) { semihost_exit(1); }

__attribute__((section(".isr_vector"), used)) void (*const atm_vectors[16])(void) = {
  (void (*)(void))(&_estack), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
  Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};

/* The compiler may emit calls to these for copies and clears (no C library is linked). */
void *memcpy(void *d, const void *s, size_t n) {
  uint8_t *a = d; const uint8_t *b = s;
  while (n--) *a++ = *b++;
  return d;
}
void *memset(void *d, int c, size_t n) {
  uint8_t *a = d;
  while (n--) *a++ = (uint8_t)c;
  return d;
}
