#include <linux/types.h>
enum { ANON_A = 1, ANON_B = 2, ANON_C = 3 };
enum ops { OP_A, OP_B, OP_C, OP_LAST };
enum vals { V_A = 0, V_NEW = 1, V_B = 2 };
