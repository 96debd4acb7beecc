#include <linux/types.h>
enum ops { OP_A, OP_B, OP_LAST };
enum vals { V_A = 0, V_B = 1 };
enum { ANON_A = 1, ANON_B = 2 };
