/* Host harness for the generated model (astrotinyml.training.edge): reads examples from stdin,
 * each the model's int8 inputs back to back in input order, and writes for each the int8 output
 * followed by the int8 tensor that feeds the softmax (the logits), both to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include "astrotinyml_edge_model.h"

int main(void) {
  static int8_t in[ATM_EDGE_INPUT_BYTES];
  static int8_t out[ATM_EDGE_OUTPUT_BYTES];
  while (fread(in, 1, sizeof in, stdin) == sizeof in) {
    atm_edge_invoke(in, out);
    if (fwrite(out, 1, sizeof out, stdout) != sizeof out) return 2;
    if (fwrite(atm_edge_logits(), 1, ATM_EDGE_LOGITS_BYTES, stdout) != ATM_EDGE_LOGITS_BYTES) return 2;
  }
  return ferror(stdin) ? 1 : 0;
}
