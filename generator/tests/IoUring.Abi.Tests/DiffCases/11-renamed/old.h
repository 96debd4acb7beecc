#include <linux/types.h>
struct s { __u32 old_name; __u32 b; };
