/* Port of the official AssemblyScript test: proc_exit(0) ends the program
 * with exit code 0 (and nothing after it runs). */
#include "check.h"

int main(void) {
    __wasi_proc_exit(0);
}
