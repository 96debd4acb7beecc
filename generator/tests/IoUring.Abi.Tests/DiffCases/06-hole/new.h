#include <linux/types.h>
struct s { __u16 a; __u16 n; __u32 b; };
