#include <linux/types.h>
struct s { __u32 op; __u32 pad; union { __u64 addr; __u64 off; __u32 flags; }; };
