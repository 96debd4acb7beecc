#include <linux/types.h>
union u { __u32 x; __u16 y; };
