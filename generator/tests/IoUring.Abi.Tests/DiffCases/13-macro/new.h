#include <linux/types.h>
#define M_A 1
#define M_C 8
#define M_MASK 0x7
#define M_SPELL 4U
#define M_VAL 11
