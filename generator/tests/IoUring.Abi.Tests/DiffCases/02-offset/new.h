#include <linux/types.h>
struct s { __u32 b; __u32 a; };
