#include <linux/types.h>
struct s { __u32 a; __u32 b; };
struct t { __u32 a; __u64 b; };
