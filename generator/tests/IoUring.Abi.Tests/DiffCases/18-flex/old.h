#include <linux/types.h>
struct s { __u32 n; __u32 pad; __u64 items[0]; };
