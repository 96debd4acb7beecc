#include <linux/types.h>
#define M_A 1
#define M_B 2
#define M_MASK 0x3
#define M_SPELL (1U << 2)
#define M_VAL 10
