#include <linux/types.h>
struct s { __u32 a; __u32 b; };
