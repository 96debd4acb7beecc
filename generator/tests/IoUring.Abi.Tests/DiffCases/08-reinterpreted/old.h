#include <linux/types.h>
struct s { union { __u64 addr; __u32 len; }; };
