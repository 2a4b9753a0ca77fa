/* Port of the official AssemblyScript test: proc_exit(33) ends the program
 * with exit code 33. */
#include "check.h"

int main(void) {
    __wasi_proc_exit(33);
}
