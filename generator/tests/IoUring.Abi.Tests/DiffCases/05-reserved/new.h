#include <linux/types.h>
struct s { __u32 flags; __u32 nr; __u32 resv[2]; };
